"""Isolation: the worker thread's timeout, and an agent in its own (spawned) process."""

import functools
import time

import gymnasium
import pytest

from splitsecond.agents import EnvSpec, Observation, make_agent
from splitsecond.agents.arena import AgentTimeout, AgentWorker, MatchConfig, ProcessAgent, run_match

SPEC = EnvSpec("splitsecond/StreetFighter-v0", gymnasium.spaces.Discrete(28), gymnasium.spaces.Discrete(1))

AGENT_FILE = """
import time
from splitsecond.agents import Decision

class Sleepy:
    name = "sleepy"
    def __init__(self, sleep_s=0.0):
        self.sleep_s = sleep_s
    def reset(self, spec, seed=None):
        self.n = 0
    def act(self, observation):
        self.n += 1
        if self.n > 1:
            time.sleep(self.sleep_s)
        return Decision(action=self.n % 28, latency_ms=30.0)
"""


def test_worker_times_out_and_reports_errors():
    worker = AgentWorker("t")
    assert worker.call(lambda x: x + 1, 1, timeout_s=5)[0] == 2
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0, timeout_s=5)
    t0 = time.perf_counter()
    with pytest.raises(AgentTimeout):
        worker.call(time.sleep, 5, timeout_s=0.2)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(RuntimeError, match="abandoned"):
        worker.submit(print)


@pytest.mark.slow
def test_process_agent_answers_then_is_killed_when_it_hangs(tmp_path):
    path = tmp_path / "sleepy_agent.py"
    path.write_text(AGENT_FILE)
    agent = ProcessAgent(functools.partial(make_agent, f"{path}:Sleepy?sleep_s=60"), timeout_s=1.0)
    try:
        assert agent.name == "sleepy"
        agent.reset(SPEC, 0)
        assert agent.act(Observation(data=None)).action == 1
        t0 = time.perf_counter()
        with pytest.raises(AgentTimeout):
            agent.act(Observation(data=None))
        assert time.perf_counter() - t0 < 5
        assert not agent._proc.is_alive()
    finally:
        agent.close()


@pytest.mark.slow
def test_process_agent_plays_a_match(tmp_path):
    path = tmp_path / "sleepy_agent.py"
    path.write_text(AGENT_FILE)
    agent = ProcessAgent(functools.partial(make_agent, f"{path}:Sleepy"), timeout_s=10.0)
    result = run_match(
        [agent, "masher"], MatchConfig(seed=0, env_kwargs={"round_seconds": 2, "rounds_to_win": 1})
    )
    assert result.end_reason == "terminated"
    assert result.agents["player_0"].decisions > 10 and result.agents["player_0"].errors == 0
    assert not agent._proc.is_alive()  # the arena closed it
