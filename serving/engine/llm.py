"""``LLM``: the synchronous, offline front end (batch of prompts in, finished outputs out)."""

from __future__ import annotations

import itertools
import logging

from splitsecond.serving.config import EngineConfig
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.outputs import EngineStats, RequestOutput
from splitsecond.serving.sampling_params import SamplingParams

logger = logging.getLogger(__name__)


class LLM:
    """Generate completions for a list of prompts, batched by the engine.

    ``LLM("smollm2-135m", max_num_seqs=8)`` takes ``EngineConfig`` fields as keyword arguments.
    Use it as a context manager (or call ``close()``) when a KV tier is configured
    (``kv_swap_policy="flash"`` creates a zone file that ``close()`` deletes).
    """

    def __init__(self, model: str = "smollm2-135m", **engine_config_kwargs) -> None:
        self.engine = LLMEngine(EngineConfig(model=model, **engine_config_kwargs))
        self._ids = itertools.count()

    @classmethod
    def from_engine(cls, engine: LLMEngine) -> LLM:
        """Wrap an existing engine (e.g. one built around an already-loaded model)."""
        llm = cls.__new__(cls)
        llm.engine = engine
        llm._ids = itertools.count()
        return llm

    @property
    def tokenizer(self):
        """The model's tokenizer."""
        return self.engine.tokenizer

    @property
    def max_model_len(self) -> int:
        """Prompt + output tokens one request may use."""
        return self.engine.max_model_len

    def generate(
        self,
        prompts: str | list[int] | list[str | list[int]],
        params: SamplingParams | list[SamplingParams] | None = None,
        show_progress: bool = False,
    ) -> list[RequestOutput]:
        """Run every prompt to completion; outputs in prompt order.

        A single string or a single list of token ids counts as one prompt. ``params`` may be one
        ``SamplingParams`` for all prompts or one per prompt.
        """
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]  # type: ignore[list-item]
        params = params or SamplingParams()
        plist = params if isinstance(params, list) else [params] * len(prompts)
        if len(plist) != len(prompts):
            raise ValueError(f"got {len(plist)} SamplingParams for {len(prompts)} prompts")
        ids = []
        for prompt, p in zip(prompts, plist, strict=False):
            rid = f"llm-{next(self._ids)}"
            self.engine.add_request(rid, prompt, p)
            ids.append(rid)
        finished: dict[str, RequestOutput] = {}
        progress = None
        if show_progress:
            from rich.progress import Progress

            progress = Progress(transient=True)
            task = progress.add_task("generating", total=len(ids))
            progress.start()
        try:
            while self.engine.has_unfinished_requests():
                outputs = self.engine.step()
                if not outputs and not self.engine.last_step_scheduled:
                    raise RuntimeError(
                        "the engine cannot schedule the remaining requests (KV cache too small?)"
                    )
                for out in outputs:
                    if out.finished:
                        finished[out.request_id] = out
                        if progress is not None:
                            progress.advance(task)
        finally:
            if progress is not None:
                progress.stop()
        return [finished[i] for i in ids]

    def chat(
        self,
        messages: list[dict] | list[list[dict]],
        params: SamplingParams | None = None,
        add_generation_prompt: bool = True,
    ) -> list[RequestOutput]:
        """Render chat ``messages`` (one conversation or a list of them) and generate replies."""
        convs = [messages] if messages and isinstance(messages[0], dict) else messages
        prompts = [
            self.tokenizer.apply_chat_template(c, add_generation_prompt=add_generation_prompt) for c in convs
        ]
        return self.generate(prompts, params)

    def stats(self) -> EngineStats:
        """The engine's counters."""
        return self.engine.stats()

    def close(self) -> None:
        """Close the engine: release its KV tier and delete a zone file it created (idempotent)."""
        self.engine.close()

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
