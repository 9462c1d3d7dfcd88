"""Scheduler: chunked prefill within the token budget, decode batching, preemption, admission limits."""

from __future__ import annotations

from splitsecond.serving.engine.block_manager import BlockManager
from splitsecond.serving.engine.scheduler import Scheduler
from splitsecond.serving.engine.sequence import Request, Sequence, SequenceStatus
from splitsecond.serving.sampling_params import SamplingParams

BS = 4


def make_seq(n_tokens: int, rid: str = "r") -> Sequence:
    tokens = list(range(1000 * len(rid), 1000 * len(rid) + n_tokens))
    req = Request(request_id=rid, prompt=None, prompt_token_ids=tokens, params=SamplingParams())
    return Sequence(req, 0, tokens, None, None, None)


def run_step(sched: Scheduler, new_token: int = 7):
    """Pretend the forward pass ran: advance computed counts, append a token where one is sampled."""
    batch = sched.schedule()
    for seq, n in zip(batch.seqs, batch.num_tokens, strict=True):
        seq.num_computed_tokens += n
        sched.block_manager.register_computed(seq)
        if seq.num_computed_tokens == seq.num_tokens:
            seq.token_ids.append(new_token)
    return batch


def test_chunked_prefill_respects_token_budget():
    sched = Scheduler(BlockManager(64, BS), max_num_seqs=4, max_num_batched_tokens=10)
    seq = make_seq(25)
    sched.add(seq)
    chunks = [run_step(sched).num_tokens for _ in range(3)]
    assert chunks == [[10], [10], [5]]
    assert seq.num_output_tokens == 1  # sampled only after the last chunk


def test_decode_batches_with_new_prefill():
    sched = Scheduler(BlockManager(64, BS), max_num_seqs=4, max_num_batched_tokens=8)
    a, b = make_seq(3, "a"), make_seq(12, "bb")
    sched.add(a)
    run_step(sched)  # a prefilled (3 tokens), sampled one
    sched.add(b)
    batch = run_step(sched)
    assert batch.seqs == [a, b]
    assert batch.num_tokens == [1, 7]  # a decodes 1 token, b gets the rest of the budget


def test_max_num_seqs_limits_running():
    sched = Scheduler(BlockManager(64, BS), max_num_seqs=2, max_num_batched_tokens=100)
    seqs = [make_seq(3, "x" * (i + 1)) for i in range(3)]
    for s in seqs:
        sched.add(s)
    batch = run_step(sched)
    assert len(batch.seqs) == 2
    assert len(sched.waiting) == 1


def test_preemption_frees_latest_sequence_and_requeues_it():
    sched = Scheduler(BlockManager(4, BS), max_num_seqs=4, max_num_batched_tokens=64)
    a, b = make_seq(8, "a"), make_seq(8, "bb")  # 2 blocks each -> cache full
    sched.add(a)
    sched.add(b)
    run_step(sched)  # both prefilled; each now has 9 tokens, the 9th needs a 3rd block
    assert sched.block_manager.num_free_blocks == 0
    batch = run_step(sched)  # a needs a 3rd block -> b is preempted
    assert batch.preempted == [b]
    assert b.status is SequenceStatus.WAITING and sched.waiting[0] is b
    assert b.num_computed_tokens == 0 and b.block_table == []
    assert batch.seqs == [a]
    assert sched.num_preemptions == 1


def test_finish_frees_blocks():
    bm = BlockManager(8, BS)
    sched = Scheduler(bm, max_num_seqs=4, max_num_batched_tokens=64)
    seq = make_seq(9)
    sched.add(seq)
    run_step(sched)
    assert bm.num_free_blocks < 8
    sched.finish(seq)
    assert bm.num_free_blocks == 8
    assert seq.status is SequenceStatus.FINISHED
    assert sched.num_unfinished == 0
