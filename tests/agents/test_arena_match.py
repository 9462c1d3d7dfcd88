"""The arena on the real StreetFighter and HFTBench envs: determinism, latency bookkeeping,
crashing / invalid / hanging agents, real-time mode, N agents in one market."""

import time

import pytest

from splitsecond.agents import Decision, RandomAgent
from splitsecond.agents.arena import MatchConfig, read_episode_log, run_match, without_wall_clock
from splitsecond.envs.streetfighter.frame_data import frame_time_us, latency_frames
from splitsecond.envs.timing import ms_to_us

SHORT = {"round_seconds": 4, "rounds_to_win": 1}


class Crashy:
    """Raises on every third decision."""

    name = "crashy"

    def reset(self, spec, seed=None):
        self.n = 0

    def act(self, observation):
        self.n += 1
        if self.n % 3 == 0:
            raise RuntimeError("boom")
        return Decision(action=1, latency_ms=50.0)


class Invalid:
    name = "invalid"

    def reset(self, spec, seed=None):
        pass

    def act(self, observation):
        return Decision(action=99, latency_ms=20.0)


class Hangs:
    """Answers twice, then hangs."""

    name = "hangs"

    def reset(self, spec, seed=None):
        self.n = 0

    def act(self, observation):
        self.n += 1
        if self.n > 2:
            time.sleep(30)
        return Decision(action=0, latency_ms=100.0)


class Slow:
    """Thinks 60 ms of real time per decision."""

    name = "slow"

    def reset(self, spec, seed=None):
        pass

    def act(self, observation):
        time.sleep(0.06)
        return Decision(action=1)


def test_virtual_match_is_deterministic(tmp_path):
    def play(seed, out):
        return run_match(
            [RandomAgent(latency_ms=80.0), "masher"],
            MatchConfig(seed=seed, env_kwargs=SHORT, out_dir=tmp_path / out),
        )

    a, b, c = play(3, "a"), play(3, "b"), play(4, "c")
    log_a, log_b = read_episode_log(a.log_path), read_episode_log(b.log_path)
    assert len(log_a) > 20
    assert without_wall_clock(log_a) == without_wall_clock(log_b)
    assert without_wall_clock(log_a) != without_wall_clock(read_episode_log(c.log_path))
    assert a.scores == b.scores and a.winner == b.winner
    assert a.replay_path.exists()


def test_logged_latencies_add_up_to_simulated_time(tmp_path):
    result = run_match(
        [RandomAgent(), "zoner"],
        MatchConfig(seed=1, env_kwargs=SHORT, out_dir=tmp_path),
        latency={"player_0": "fixed:37.5", "player_1": "declared"},
    )
    decisions = [r for r in read_episode_log(result.log_path) if r["type"] == "decision"]
    for agent, expected in (("player_0", 37.5), ("player_1", 200.0)):
        mine = [r for r in decisions if r["agent"] == agent]
        assert all(r["latency_ms"] == expected for r in mine)
        assert mine[0]["t_us"] == 0
        # each action lands ceil(latency) frames after its observation; the next decision is the frame after
        for prev, nxt in zip(mine, mine[1:], strict=False):
            frame = -(-prev["t_us"] * 60 // 1_000_000)  # time_us is the frame start rounded down
            assert nxt["t_us"] == frame_time_us(frame + latency_frames(ms_to_us(prev["latency_ms"])) + 1)
    assert result.end_reason == "terminated"


def test_crashing_and_invalid_agents_fall_back_and_finish(tmp_path):
    result = run_match([Crashy(), Invalid()], MatchConfig(seed=0, env_kwargs=SHORT, out_dir=tmp_path))
    crashy, invalid = result.agents["player_0"], result.agents["player_1"]
    assert result.end_reason == "terminated"
    assert crashy.errors == crashy.fallbacks == crashy.decisions // 3 > 0
    assert invalid.errors == invalid.fallbacks == invalid.decisions > 0
    records = [r for r in read_episode_log(result.log_path) if r["type"] == "decision"]
    assert any("boom" in (r["error"] or "") for r in records)
    assert all(r["action_name"] == "idle" for r in records if r["agent"] == "player_1")


def test_hanging_agent_forfeits_and_the_arena_returns(tmp_path):
    t0 = time.perf_counter()
    result = run_match([Hangs(), "dummy"], MatchConfig(seed=0, act_timeout_s=0.5, out_dir=tmp_path))
    assert time.perf_counter() - t0 < 10
    assert result.end_reason == "forfeit" and result.winner == "player_1"
    assert result.agents["player_0"].forfeited and result.agents["player_0"].timeouts == 1
    assert any(r.get("event") == "forfeit" for r in read_episode_log(result.log_path))


def test_realtime_mode_runs_on_the_wall_clock(tmp_path):
    t0 = time.perf_counter()
    result = run_match(
        [Slow(), "dummy"],
        MatchConfig(
            seed=0, mode="realtime", env_kwargs={"round_seconds": 2, "rounds_to_win": 1}, out_dir=tmp_path
        ),
        latency="declared:wall",
    )
    wall = time.perf_counter() - t0
    assert result.end_reason == "terminated" and result.mode == "realtime"
    assert 1.8 < wall < 6.0  # 2 s of game time paced at its natural rate
    slow = result.agents["player_0"]
    assert slow.decisions >= 5
    assert min(slow.latencies_ms) >= 55.0  # its actions land no earlier than its real thinking time


def test_hftbench_three_agents_one_market(tmp_path):
    result = run_match(
        ["hft-market-maker", "hft-momentum", "hft-news-reactor"],
        MatchConfig(env_id="HFTBench-v0", seed=2, env_kwargs={"session_seconds": 5}, out_dir=tmp_path),
        latency={"trader_0": "fixed:1", "trader_1": "fixed:50", "trader_2": "fixed:500"},
    )
    assert set(result.agents) == {"trader_0", "trader_1", "trader_2"}
    assert result.end_reason == "terminated" and result.sim_time_s == pytest.approx(5.0, abs=0.1)
    assert all(a.decisions > 0 and a.errors == 0 for a in result.agents.values())
    assert "pnl" in result.details


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="1v1"):
        run_match(["random", "random", "random"])
    with pytest.raises(ValueError, match="unknown agent ids"):
        run_match({"player_0": "random", "p2": "random"})
    with pytest.raises(ValueError, match="latency"):
        run_match(["random", "dummy"], latency="slow")
    with pytest.raises(ValueError, match="mode"):
        MatchConfig(mode="fast")
    with pytest.raises(ValueError, match="does not know"):
        run_match(["random", "random"], MatchConfig(env_id="CartPole-v1"))


def test_progress_callback_and_result_table(tmp_path):
    from rich.console import Console

    from splitsecond.agents.arena import progress_text, result_table

    seen = []
    result = run_match(["random", "masher"], MatchConfig(seed=0, env_kwargs=SHORT), progress=seen.append)
    assert len(seen) == result.decisions and seen[-1].decisions == result.decisions
    assert "round 1" in seen[-1].status and "decisions" in progress_text(seen[-1])
    assert result.log_path is None  # nothing written without out_dir
    console = Console(record=True, width=160)
    console.print(result_table(result))
    text = console.export_text()
    assert "random (player_0)" in text and "masher (player_1)" in text
