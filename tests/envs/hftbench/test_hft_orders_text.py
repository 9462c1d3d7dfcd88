"""The text order syntax for LLM agents."""

from __future__ import annotations

import pytest

from splitsecond.envs.hftbench import GRAMMAR, Cancel, Order, parse_order, parse_orders
from splitsecond.envs.hftbench.orders import normalize


@pytest.mark.parametrize(
    "text,expected",
    [
        ("BUY 10 ACME @ MKT", Order("buy", "ACME", 10)),
        ("buy 10 acme", Order("buy", "ACME", 10)),
        ("SELL 5 IDX @ 101.25", Order("sell", "IDX", 5, 101.25)),
        ("sell 5 idx @ limit 101.25", Order("sell", "IDX", 5, 101.25)),
        ("SELL 5 IDX @ $99", Order("sell", "IDX", 5, 99.0)),
        ("CANCEL 17", Cancel(17)),
        ("cancel #17", Cancel(17)),
        ("HOLD", None),
        ("  ", None),
    ],
)
def test_parse_order(text, expected):
    assert parse_order(text) == expected


def test_parse_orders_and_errors():
    assert parse_orders("BUY 1 ACME; SELL 2 BOLT @ 50.01\nHOLD\nCANCEL 3") == [
        Order("buy", "ACME", 1),
        Order("sell", "BOLT", 2, 50.01),
        Cancel(3),
    ]
    with pytest.raises(ValueError, match="BUY\\|SELL"):
        parse_order("purchase some ACME")
    assert "CANCEL" in GRAMMAR
    assert str(Order("buy", "ACME", 3, 100.5)) == "BUY 3 ACME @ 100.5"


def test_normalize_lot_and_size_limits():
    kw = {"symbols": ["ACME"], "tick_sizes": [0.05], "lot_sizes": [10], "max_order_shares": 100}
    assert normalize(Order("buy", "ACME", 15), **kw).code == "bad_quantity"
    assert normalize(Order("buy", "ACME", 200), **kw).code == "bad_quantity"
    assert normalize(Order("buy", "ACME", 20, 10.02), **kw).code == "off_tick"
    assert normalize(Order("buy", "ACME", 20, -1.0), **kw).code == "bad_price"
    ok = normalize(Order("buy", "ACME", 20, 10.05), **kw)
    assert (ok.kind, ok.price, ok.qty) == ("limit", 201, 20)
