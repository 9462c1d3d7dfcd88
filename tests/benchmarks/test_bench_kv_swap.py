"""Helpers of the KV swap benchmark (``benchmarks/kv_swap.py``) on a tiny zone: real I/O, no model."""

from splitsecond.benchmarks import kv_swap


def test_churn_reports_write_amplification_per_segment_size(tmp_path):
    small = kv_swap.churn_write_amplification(str(tmp_path), ops=40, segment_bytes=2**20)
    large = kv_swap.churn_write_amplification(str(tmp_path), ops=40, segment_bytes=16 * 2**20)
    for r in (small, large):
        assert r["write_amplification"] >= 1.0 and r["integrity_failures"] == 0
        assert r["segment_bytes"] == r["pages_per_segment"] * (4096 + 737280)  # whole pages
    assert small["pages_per_segment"] == 1 and large["pages_per_segment"] == 22
    assert not list(tmp_path.iterdir())  # zone files removed


def test_swap_bandwidth_runs_the_raw_read_on_the_zone_between_swap_out_and_in(tmp_path):
    seen = []

    def raw_read(path, nbytes, read_bytes):
        seen.append((path.exists(), nbytes, read_bytes))

    r = kv_swap.swap_bandwidth("flash", str(tmp_path), 2, 2, 1, 2, raw_read, prefetch_next=True)
    assert seen == [(True, 4 * (4096 + 737280), r["read_chunk_bytes"])]
    assert r["swap_in_gbps"] > 0 and r["backend"] == "posix"


def test_median_run_keeps_every_throughput():
    runs = [{"throughput_tok_s": t, "policy": "flash"} for t in (3.0, 1.0, 2.0)]
    m = kv_swap._median_run(runs)
    assert m["throughput_tok_s"] == 2.0 and m["throughput_tok_s_runs"] == [3.0, 1.0, 2.0]
