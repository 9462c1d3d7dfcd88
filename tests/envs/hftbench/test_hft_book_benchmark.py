"""The benchmark's event stream and its SortedDict peer book agree with the real book."""

from __future__ import annotations

from splitsecond.benchmarks.hftbench_book import SortedDictBook, make_stream, run_stream
from splitsecond.envs.hftbench.order_book import OrderBook


def test_peer_book_processes_the_same_events():
    ops = make_stream(5_000, seed=3)
    ours, peer = OrderBook(), SortedDictBook()
    run_stream(ours, ops)
    run_stream(peer, ops)
    assert (ours.n_adds, ours.n_cancels, ours.n_fills) == (peer.n_adds, peer.n_cancels, peer.n_fills)
    assert ours.n_fills > 100 and ours.n_cancels > 100
    assert len(ours) == len(peer.orders)
