"""The HFTBench order menu and the LLM agent's HFTBench mode, on real HFTBench observations.

No server here: the menu is checked against the env itself (every line parses and is accepted on
arrival), and the agent against LiteLLM's own ``mock_response``. The real-server run is in
``test_llm_e2e.py``.
"""

import os

import numpy as np
import pytest

from splitsecond.agents import LLMAgent
from splitsecond.agents.arena.games import HFTBenchGame
from splitsecond.agents.base import Observation
from splitsecond.agents.parsing import parse_text_action
from splitsecond.agents.prompts import OrderMenu, template_for
from splitsecond.envs.hftbench import HFTBenchMultiEnv, parse_orders

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

GAME = HFTBenchGame()


def fresh(seed=0):
    env = HFTBenchMultiEnv(agent_names=["trader_0"], clock="explicit")
    env.reset(seed=seed)
    spec = GAME.spec(env, "trader_0")
    return env, spec, GAME.observation("trader_0", env.observe("trader_0"), env.infos["trader_0"])


def test_every_menu_line_is_a_valid_order_the_env_accepts():
    env, spec, obs = fresh()
    menu = OrderMenu().build(spec, obs)
    assert menu[0] == "HOLD" and len(menu) == len(set(menu))
    assert {"BUY 100 ACME @ MKT", "SELL 100 IDX @ MKT"} <= set(menu)
    bid = float(obs.data["bid_px"][0, 0])
    assert f"BUY 100 ACME @ {bid:.2f}" in menu
    for line in menu:
        assert len(parse_orders(line)) == (0 if line == "HOLD" else 1)
    # send every limit line at once: none is rejected on arrival
    limits = [m for m in menu if "@ MKT" not in m and m != "HOLD"]
    env.step("\n".join(limits))
    info = env.infos["trader_0"]
    assert info["rejections"] == [] and len(info["accepted"]) == len(limits)
    # now the resting orders can be cancelled from the menu
    obs2 = GAME.observation("trader_0", env.observe("trader_0"), info)
    cancels = [m for m in OrderMenu(max_cancels=3).build(spec, obs2) if m.startswith("CANCEL")]
    assert len(cancels) == 3
    assert int(cancels[0].split()[1]) == int(obs2.data["order_id"][0])


def test_improve_only_inside_a_wide_spread_and_options():
    _, spec, obs = fresh()
    data = {k: np.array(v, copy=True) for k, v in obs.data.items()}
    data["bid_px"][0, 0], data["ask_px"][0, 0] = 100.00, 100.01  # one-tick spread on ACME
    data["bid_px"][1, 0], data["ask_px"][1, 0] = 50.00, 50.05  # wide spread on BOLT
    menu = OrderMenu().build(spec, Observation(data=data))
    assert "BUY 100 ACME @ 100.00" in menu and "BUY 100 ACME @ 100.01" not in menu
    assert {"BUY 100 BOLT @ 50.01", "SELL 100 BOLT @ 50.04"} <= set(menu)
    plain = OrderMenu(improve=False).build(spec, Observation(data=data))
    assert "BUY 100 BOLT @ 50.01" not in plain and "BUY 100 BOLT @ 50.00" in plain
    market_only = OrderMenu(limits=False, shares=7).build(spec, Observation(data=data))
    assert all(m == "HOLD" or m.endswith("@ MKT") for m in market_only)
    assert "BUY 7 CHIP @ MKT" in market_only


def test_infeasible_orders_are_left_out():
    _, spec, obs = fresh()
    data = {k: np.array(v, copy=True) for k, v in obs.data.items()}
    data["cash"][0] = 1_000.0  # 100 ACME costs ~$10,000: no buys of ACME, BOLT, CHIP or IDX
    data["buying_power"][0] = 1_000.0  # nor short sales, which need buying power too
    data["bid_qty"][2, 0] = 0  # CHIP has no bid: nothing to sell into at market, nothing to join
    spec_short = type(spec)(**{**spec.__dict__, "metadata": {**spec.metadata, "short_limit_shares": 50}})
    menu = OrderMenu().build(spec_short, Observation(data=data))
    assert not any(m.startswith("BUY") for m in menu)
    assert not any(m.startswith("SELL") for m in menu)  # 100 shares short > limit 50
    assert menu == ["HOLD"]
    data["position"][0] = 100
    menu = OrderMenu().build(spec_short, Observation(data=data))
    assert "SELL 100 ACME @ MKT" in menu and not any("CHIP" in m for m in menu)


def test_short_sales_need_buying_power_and_closing_orders_do_not():
    _, spec, obs = fresh()
    data = {k: np.array(v, copy=True) for k, v in obs.data.items()}
    data["buying_power"][0] = 1_000.0  # a cash account with little left: no new positions either way
    menu = OrderMenu().build(spec, Observation(data=data))
    assert menu == ["HOLD"]
    data["position"][0], data["position"][1] = 100, -100  # long ACME, short BOLT: both may be closed
    menu = OrderMenu().build(spec, Observation(data=data))
    assert "SELL 100 ACME @ MKT" in menu and "BUY 100 BOLT @ MKT" in menu
    assert "BUY 100 ACME @ MKT" not in menu and "SELL 100 BOLT @ MKT" not in menu
    data["buying_power"][0] = 100_000.0
    menu = OrderMenu().build(spec, Observation(data=data))
    assert "SELL 100 CHIP @ MKT" in menu  # a short sale the buying power covers


def test_lot_sizes_no_arrays_and_bad_input():
    _, spec, _ = fresh()
    lots = type(spec)(**{**spec.__dict__, "metadata": {**spec.metadata, "lot_sizes": [1, 30, 1, 1]}})
    menu = OrderMenu(shares=100).build(lots, Observation(data=None))
    assert menu == ["HOLD"] + [f"{s} {q} {sym} @ MKT" for sym, q in
                               (("ACME", 100), ("BOLT", 120), ("CHIP", 100), ("IDX", 100))
                               for s in ("BUY", "SELL")]  # fmt: skip
    assert OrderMenu().syntax(spec).startswith("HOLD | BUY|SELL 100 <SYMBOL> @ MKT")
    assert "<qty>" in OrderMenu().syntax(lots) and "ACME, BOLT, CHIP, IDX" in OrderMenu().syntax(spec)
    with pytest.raises(ValueError, match="shares"):
        OrderMenu(shares=0)
    with pytest.raises(ValueError, match="max_cancels"):
        OrderMenu(max_cancels=-1)
    bare = type(spec)(**{**spec.__dict__, "metadata": {}})
    with pytest.raises(ValueError, match="symbols"):
        OrderMenu().build(bare, Observation(data=None))
    with pytest.raises(ValueError, match="OrderMenu"):
        LLMAgent("openai/x", order_menu={"shares": 5})


def agent(answer, **kwargs):
    a = LLMAgent("openai/test-model", extra_params={"mock_response": answer}, **kwargs)
    return a


def test_agent_constrains_hftbench_answers_to_the_menu():
    _, spec, obs = fresh()
    a = agent("BUY 100 ACME @ MKT", structured="choice", prompt="compact")
    a.reset(spec, seed=0)
    d = a.act(obs)
    assert d.action == "BUY 100 ACME @ MKT" and not d.fallback and d.trace.parsed["method"] == "menu"
    system = d.trace.prompt[0]["content"]
    assert "Order syntax: HOLD | BUY|SELL 100 <SYMBOL> @ MKT" in system
    assert template_for(spec.env_id, "compact").rules in system
    # the request carries the menu as the choice constraint, with room for the longest order
    from splitsecond.agents.llm_agent import _Call

    menu = tuple(OrderMenu().build(spec, obs))
    request = a._request(_Call(d.trace.prompt, 32, True, menu), "choice")
    assert request["extra_body"]["structured_outputs"]["choice"] == list(menu)
    schema = a._request(_Call(d.trace.prompt, 12, True, menu), "json")
    assert schema["response_format"]["json_schema"]["schema"]["properties"]["action"]["enum"] == list(menu)
    assert schema["max_tokens"] >= 48


def test_agent_json_and_free_text_modes():
    _, spec, obs = fresh()
    a = agent('{"action": "SELL 100 IDX @ MKT"}', structured="json")
    a.reset(spec, seed=0)
    d = a.act(obs)
    assert d.action == "SELL 100 IDX @ MKT" and d.trace.parsed["method"] == "json"
    free = agent("I think:\nBUY 5 ACME @ 99.50\nnonsense", structured="none")
    free.reset(spec, seed=0)
    d = free.act(obs)
    assert d.action == "BUY 5 ACME @ 99.50" and d.trace.parsed["method"] == "text"
    assert f"Order syntax: {spec.metadata['text_action_grammar']}" in d.trace.prompt[0]["content"]
    bad = agent("the market is nice today", structured="choice")
    bad.reset(spec, seed=0)
    d = bad.act(obs)
    assert d.fallback and d.action is None and bad.stats.fallbacks == 1


def test_parse_text_action_reads_json_objects():
    _, spec, _ = fresh()
    r = parse_text_action('```json\n{"action": "CANCEL 12"}\n```', spec)
    assert r.ok and r.name == "CANCEL 12" and r.method == "json"
    r = parse_text_action('{"action": "BUY ten ACME"}', spec)
    assert not r.ok and "cannot parse order" in r.error


def test_the_lsb_fill_model_gets_a_market_only_menu():
    _, spec, obs = fresh()
    lsb = type(spec)(**{**spec.__dict__, "metadata": {**spec.metadata, "fill_model": "lsb"}})
    menu = OrderMenu().build(lsb, obs)
    assert len(menu) > 1 and all(m == "HOLD" or m.endswith("@ MKT") or m.startswith("CANCEL") for m in menu)
    assert "@ <its bid" not in OrderMenu().syntax(lsb)
    assert spec.metadata["short_limit_shares"] > 0 and spec.metadata["fill_model"] == "book"
