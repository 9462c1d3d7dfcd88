"""splitsecond.serving — our own PyTorch inference engine (paged KV cache, continuous batching,
prefix caching, chunked prefill, grammar-constrained decoding) and, in ``serving.server``, an
OpenAI-compatible HTTP server on top of it.

Quick start::

    from splitsecond.serving import LLM, SamplingParams
    llm = LLM("smollm2-135m")
    print(llm.generate("The capital of France is", SamplingParams(temperature=0))[0].outputs[0].text)
"""

import importlib
from typing import TYPE_CHECKING, Any

# Public names and the modules that define them. They are imported on first use, so that light
# users (the server launcher, the CLI) do not pay for importing torch and the engine.
_EXPORTS = {
    "EngineConfig": "config",
    "AsyncEngine": "engine.async_engine",
    "LLM": "engine.llm",
    "LLMEngine": "engine.llm_engine",
    "EngineDeadError": "errors",
    "EngineError": "errors",
    "EngineOverloadedError": "errors",
    "InvalidSchemaError": "errors",
    "PromptTooLongError": "errors",
    "RequestAbortedError": "errors",
    "ResolvedModel": "loader.registry",
    "resolve_model": "loader.registry",
    "CompletionOutput": "outputs",
    "EngineStats": "outputs",
    "Logprob": "outputs",
    "RequestOutput": "outputs",
    "SamplingParams": "sampling_params",
    "StructuredOutput": "sampling_params",
}

if TYPE_CHECKING:
    from splitsecond.serving.config import EngineConfig
    from splitsecond.serving.engine.async_engine import AsyncEngine
    from splitsecond.serving.engine.llm import LLM
    from splitsecond.serving.engine.llm_engine import LLMEngine
    from splitsecond.serving.errors import (
        EngineDeadError,
        EngineError,
        EngineOverloadedError,
        InvalidSchemaError,
        PromptTooLongError,
        RequestAbortedError,
    )
    from splitsecond.serving.loader.registry import ResolvedModel, resolve_model
    from splitsecond.serving.outputs import CompletionOutput, EngineStats, Logprob, RequestOutput
    from splitsecond.serving.sampling_params import SamplingParams, StructuredOutput


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "LLM",
    "AsyncEngine",
    "CompletionOutput",
    "EngineConfig",
    "EngineDeadError",
    "EngineError",
    "EngineOverloadedError",
    "EngineStats",
    "InvalidSchemaError",
    "LLMEngine",
    "Logprob",
    "PromptTooLongError",
    "RequestAbortedError",
    "RequestOutput",
    "ResolvedModel",
    "SamplingParams",
    "StructuredOutput",
    "resolve_model",
]
