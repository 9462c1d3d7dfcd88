"""Build the ``RequestOutput`` of a request after a step: cumulative text and tokens plus this step's delta."""

from __future__ import annotations

from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.outputs import CompletionOutput, RequestOutput


def completion_output(seq: Sequence) -> CompletionOutput:
    """``seq``'s completion so far; advances what ``seq`` counts as already streamed."""
    detok = seq.detokenizer
    emit_len = detok.emittable_len(seq.finished)
    prev_len = seq.num_emitted_chars
    text = detok.text[:emit_len]
    delta_text = text[prev_len:] if emit_len >= prev_len else ""
    seq.num_emitted_chars = max(prev_len, emit_len)
    out_ids = seq.output_token_ids
    delta_ids = out_ids[seq.num_emitted_tokens :]
    seq.num_emitted_tokens = len(out_ids)
    delta_lp = None
    if seq.logprobs is not None:
        delta_lp = seq.logprobs[seq.num_emitted_logprobs :]
        seq.num_emitted_logprobs = len(seq.logprobs)
    return CompletionOutput(
        index=seq.index,
        text=text,
        token_ids=list(out_ids),
        delta_text=delta_text,
        delta_token_ids=delta_ids,
        logprobs=list(seq.logprobs) if seq.logprobs is not None else None,
        finish_reason=seq.finish_reason,
        stop_reason=seq.stop_reason,
        delta_logprobs=delta_lp,
    )


def request_output(req: Request, finished: bool) -> RequestOutput:
    """The output of ``req`` now (``finished``: its last one)."""
    return RequestOutput(
        request_id=req.request_id,
        prompt_token_ids=req.prompt_token_ids,
        num_cached_tokens=req.num_cached_tokens,
        outputs=[completion_output(s) for s in req.seqs],
        finished=finished,
        metrics={
            "arrival_time": req.arrival_time,
            "first_scheduled_time": req.first_scheduled_time,
            "first_token_time": req.first_token_time,
            "finish_time": req.finish_time,
            "num_forward_passes": req.num_forward_passes,
            "num_prompt_tokens": len(req.prompt_token_ids),
            "num_generated_tokens": sum(s.num_output_tokens for s in req.seqs),
            **req.spec_metrics,
        },
        prompt=req.prompt,
        error=req.error if finished else None,
    )
