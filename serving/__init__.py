"""splitsecond.serving — our own PyTorch inference engine (paged KV cache, continuous batching,
prefix caching, chunked prefill, grammar-constrained decoding) and, in ``serving.server``, an
OpenAI-compatible HTTP server on top of it.

Quick start::

    from splitsecond.serving import LLM, SamplingParams
    llm = LLM("smollm2-135m")
    print(llm.generate("The capital of France is", SamplingParams(temperature=0))[0].outputs[0].text)
"""

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
