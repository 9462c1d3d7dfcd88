"""``AsyncEngine``: the asyncio front end the HTTP server uses.

The model runs in one background thread (torch releases the GIL inside kernels, so the event loop stays
responsive during forward passes). That thread also builds the engine (loading and packing the model):
with libgomp, every thread that runs OpenMP regions gets its own worker team, and once there are more
workers than cores they stop spinning between regions; a decode step is hundreds of small regions, so
torch work on a second thread measured 2x slower decode on 2 cores (42 against 97 tok/s).

``generate`` admits the request (``EngineOverloadedError`` when the waiting queue cannot take its ``n``
sequences), then validates, tokenises and compiles its grammar in a small worker pool, off the event loop
(so ``PromptTooLongError``, ``InvalidSchemaError`` and ``InvalidParameterError`` surface before the first
output, and a large prompt does not stall other streams), hands the request to the engine thread through
a queue, and yields ``RequestOutput`` deltas as the engine thread publishes them with
``loop.call_soon_threadsafe`` (one call per event loop and step). A consumer that stops iterating aborts
its request. ``reserve`` admits a batch of requests (a multi-prompt completion) all at once or not at all.

A request that fails in its own part of a step (sampling, grammar, draft verification) ends alone: its
``generate`` raises ``RequestFailedError``. If a whole step raises (the forward pass), the requests in
flight get ``RequestFailedError`` and the engine keeps serving new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from splitsecond.serving.config import EngineConfig
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.errors import (
    EngineDeadError,
    InvalidParameterError,
    RequestAbortedError,
    RequestFailedError,
)
from splitsecond.serving.loader.model_loader import LoadedModel
from splitsecond.serving.outputs import EngineStats, RequestOutput
from splitsecond.serving.sampling_params import SamplingParams

logger = logging.getLogger(__name__)

_STOP = object()

#: Worker threads that prepare requests (tokenise, compile grammars) off the event loop.
PREP_THREADS = 2


class _Stream:
    """Per-request channel from the engine thread to one ``generate`` consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()

    def put(self, item) -> None:
        with contextlib.suppress(RuntimeError):  # the consumer's loop is closed
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


def _deliver(items: list[tuple[asyncio.Queue, RequestOutput]]) -> None:
    for q, item in items:
        q.put_nowait(item)


class AsyncEngine:
    """Serve many concurrent ``generate`` calls from one engine (see module docstring)."""

    def __init__(
        self, config: EngineConfig | None = None, loaded: LoadedModel | None = None, **config_kwargs
    ) -> None:
        """Start the step thread, which builds the engine (loads the model unless ``loaded`` is given).

        Returns once the engine is ready; an error while building it is raised here.
        """
        if config is None:
            config = EngineConfig(**config_kwargs)
        elif config_kwargs:
            raise ValueError("pass either an EngineConfig or keyword fields, not both")
        self.config = config
        self.engine: LLMEngine
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._streams: dict[str, _Stream] = {}
        self._streams_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = False
        self._dead: BaseException | None = None
        # Sequences admitted (or reserved) but not yet queued by the engine thread, by request id.
        self._pending: dict[str, int] = {}
        self._pending_total = 0
        self._prep = ThreadPoolExecutor(PREP_THREADS, thread_name_prefix="splitsecond-prep")
        built = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(loaded, built, failed), name="splitsecond-engine", daemon=True
        )
        self._thread.start()
        built.wait()
        if failed:
            self._thread.join()
            raise failed[0]

    # --- properties the server uses --------------------------------------------------------------
    @property
    def model_name(self) -> str:
        """The short name (or file stem) of the served model."""
        return self.engine.model_name

    @property
    def max_model_len(self) -> int:
        """Prompt + output tokens one request may use."""
        return self.engine.max_model_len

    @property
    def tokenizer(self):
        """The model's tokenizer (``encode``, ``decode``, ``apply_chat_template``, ``eos_token_ids``)."""
        return self.engine.tokenizer

    @property
    def is_running(self) -> bool:
        """True while the background step thread is alive."""
        return self._thread.is_alive()

    def stats(self) -> EngineStats:
        """A snapshot of the engine's counters (read without stopping the step thread)."""
        return self.engine.stats()

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Check that the step thread is serving (it starts with the engine)."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._dead is not None:
            raise EngineDeadError(f"engine stopped: {self._dead}")
        if self._stopping or not self._thread.is_alive():
            raise EngineDeadError("engine is shut down")

    async def shutdown(self) -> None:
        """Abort everything in flight, stop the step thread and close the engine (its KV tier)."""
        if self._stopping:
            return
        self._stopping = True
        self._prep.shutdown(wait=False, cancel_futures=True)
        self._commands.put(("shutdown", None))
        self._wakeup.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)
        if not self._thread.is_alive():
            self.engine.close()
        else:  # a step is stuck: the thread closes the engine itself when it ends
            logger.warning("engine thread did not stop within 30 s; it will close the engine when it does")

    # --- requests --------------------------------------------------------------------------------
    async def generate(
        self, prompt: str | list[int], params: SamplingParams, request_id: str, speculative: bool = False
    ) -> AsyncIterator[RequestOutput]:
        """Stream ``RequestOutput`` for ``prompt`` until it finishes (last one has ``finished=True``).

        ``speculative``: after the first token, each further output comes from verifying a draft given
        with ``submit_draft`` (see ``LLMEngine.make_request``). A ``request_id`` given to ``reserve``
        uses that admission.
        """
        self._ensure_started()
        loop = asyncio.get_running_loop()
        with self._streams_lock:
            if request_id in self._streams:
                raise ValueError(f"request id {request_id!r} is already in use")
            if request_id not in self._pending:  # not reserved: admit it now
                count = getattr(params, "n", 1)
                self.engine.check_admission(request_id, pending=self._pending_total, count=count)
                self._admit(request_id, count)
            stream = _Stream(loop)
            self._streams[request_id] = stream
        try:
            req = await loop.run_in_executor(
                self._prep, self.engine.make_request, request_id, prompt, params, speculative
            )
            with self._streams_lock:
                if request_id not in self._pending:
                    raise RequestAbortedError(f"request {request_id!r} was aborted before it started")
        except BaseException:
            with self._streams_lock:
                self._streams.pop(request_id, None)
                self._withdraw(request_id)
            raise
        self._commands.put(("add", req))
        self._wakeup.set()
        finished = False
        try:
            while True:
                item = await stream.queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item.finished and item.error is not None:
                    finished = True
                    raise RequestFailedError(request_id, item.error)
                yield item
                if item.finished:
                    finished = True
                    return
        finally:
            if not finished:
                self._commands.put(("abort", request_id))
                self._wakeup.set()
            with self._streams_lock:
                self._streams.pop(request_id, None)

    def reserve(self, request_ids: Sequence[str], params: SamplingParams) -> None:
        """Admit a batch of requests at once: all of them (``params.n`` sequences each) or none.

        Raises ``EngineOverloadedError`` when the waiting queue cannot take the whole batch now, and
        ``InvalidParameterError`` (param "n", or "prompt" for the batch's size) when it never could;
        nothing is admitted then. Pass each id to ``generate``; ``abort`` releases an id that will not
        be generated.
        """
        self._ensure_started()
        ids = list(request_ids)
        if not ids or len(set(ids)) != len(ids):
            raise ValueError("a batch needs one or more distinct request ids")
        n = getattr(params, "n", 1)
        limit = self.engine.config.max_waiting
        if n <= limit < n * len(ids):
            raise InvalidParameterError(
                "prompt",
                f"{len(ids)} prompts x n={n} = {n * len(ids)} sequences exceed the waiting queue "
                f"(max_waiting={limit})",
            )
        with self._streams_lock:
            for rid in ids:
                if rid in self._streams or rid in self._pending or rid in self.engine.requests:
                    raise ValueError(f"request id {rid!r} is already in use")
            self.engine.check_admission(ids[0], pending=self._pending_total, count=n * len(ids))
            for rid in ids:
                self._admit(rid, n)

    def _admit(self, request_id: str, count: int) -> None:
        """Count ``count`` sequences of ``request_id`` as pending (hold ``_streams_lock``)."""
        self._pending[request_id] = count
        self._pending_total += count

    def _withdraw(self, request_id: str) -> bool:
        """Stop counting ``request_id`` as pending (hold ``_streams_lock``); False if it was not."""
        count = self._pending.pop(request_id, None)
        if count is None:
            return False
        self._pending_total -= count
        return True

    def submit_draft(
        self, request_id: str, tokens: list[int], dists: list | None = None, free_run: int = 0
    ) -> None:
        """Hand a speculative request its next draft (see ``LLMEngine.submit_draft``).

        Its verification arrives on the request's ``generate`` stream; a refused draft (invalid, or the
        request was not waiting for one) raises ``ValueError`` there.
        """
        self._commands.put(("draft", (request_id, tokens, dists, free_run)))
        self._wakeup.set()

    def spec_draft_limit(self) -> int:
        """The draft length the engine advises each speculative session now."""
        return self.engine.spec_draft_limit()

    def spec_token_cost(self) -> float | None:
        """A draft token's relative cost to the server now (see ``LLMEngine.spec_token_cost``)."""
        return self.engine.spec_token_cost()

    async def abort(self, request_id: str) -> None:
        """Abort a request: its blocks are freed and its ``generate`` ends with finish_reason 'abort'.

        A request not yet handed to the engine thread (or only reserved) stops counting against the
        waiting queue at once, so a rejected batch leaves nothing behind.
        """
        with self._streams_lock:
            self._withdraw(request_id)
        self._commands.put(("abort", request_id))
        self._wakeup.set()

    # --- engine thread ---------------------------------------------------------------------------
    def _publish_step(self, outs: list[RequestOutput]) -> None:
        """Hand one step's outputs over with one wake-up per event loop, not one per request: each
        wake-up is a syscall and a loop turn on a core the step's OpenMP team wants back."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue, RequestOutput]]] = {}
        with self._streams_lock:
            for out in outs:
                stream = self._streams.get(out.request_id)
                if stream is not None:
                    by_loop.setdefault(stream.loop, []).append((stream.queue, out))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the consumer's loop is closed
                loop.call_soon_threadsafe(_deliver, items)

    def _fail(self, request_id: str, error: BaseException) -> None:
        with self._streams_lock:
            stream = self._streams.get(request_id)
        if stream is not None:
            stream.put(error)

    def _drain_commands(self) -> bool:
        """Apply queued add/abort commands; False when shutdown was requested."""
        while True:
            try:
                kind, arg = self._commands.get_nowait()
            except queue.Empty:
                return True
            if kind == "add":
                with self._streams_lock:
                    self._withdraw(arg.request_id)
                    alive = arg.request_id in self._streams
                if alive:
                    try:
                        self.engine.enqueue(arg)
                    except Exception as e:  # e.g. duplicate id raced in
                        self._fail(arg.request_id, e)
            elif kind == "draft":
                request_id, tokens, dists, free_run = arg
                try:
                    self.engine.submit_draft(request_id, tokens, dists, free_run)
                except ValueError as e:
                    self._fail(request_id, e)
            elif kind == "abort":
                out = self.engine.abort_request(arg)
                if out is not None:
                    self._publish_step([out])
            elif kind == "shutdown":
                for rid in list(self.engine.requests):
                    out = self.engine.abort_request(rid)
                    if out is not None:
                        self._publish_step([out])
                return False

    def _hold_for_drafts(self) -> bool:
        """Wait while more edges' drafts are due soon, so one forward pass verifies them all.

        Bounded: the batcher's deadline counts from the oldest waiting draft. False on shutdown.
        """
        hold = self.engine.spec_hold_time()
        while hold > 0:
            self._wakeup.wait(timeout=hold)
            self._wakeup.clear()
            if not self._drain_commands():
                return False
            hold = self.engine.spec_hold_time()
        return True

    def _run(self, loaded: LoadedModel | None, built: threading.Event, failed: list) -> None:
        try:
            self.engine = LLMEngine(self.config, loaded)
        except BaseException as e:
            failed.append(e)
            return
        finally:
            built.set()
        logger.info("engine thread started")
        try:
            while True:
                if not self._drain_commands():
                    break
                if not self.engine.has_unfinished_requests():
                    self._wakeup.wait(timeout=0.5)
                    self._wakeup.clear()
                    continue
                if not self._hold_for_drafts():
                    break
                try:
                    outputs = self.engine.step()
                except Exception as e:  # keep serving: fail the requests in flight, not the engine
                    logger.exception("engine step failed; aborting the requests in flight")
                    for rid in list(self.engine.requests):
                        self.engine.abort_request(rid)
                        self._fail(rid, RequestFailedError(rid, f"engine step failed: {e!r}"))
                    continue
                self._publish_step(outputs)
                if not self.engine.last_step_scheduled:
                    self._wakeup.wait(timeout=0.005)  # nothing runnable right now: do not spin
                    self._wakeup.clear()
        except BaseException as e:  # pragma: no cover - truly fatal
            logger.exception("engine thread died")
            self._dead = e
            with self._streams_lock:
                streams = list(self._streams.values())
            for s in streams:
                s.put(EngineDeadError(f"engine thread died: {e!r}"))
        finally:
            with self._streams_lock:
                streams = list(self._streams.items())
            for _rid, s in streams:
                s.put(RequestAbortedError("engine shut down"))
            try:
                self.engine.close()  # the thread is gone: nothing can step the engine any more
            except Exception:  # pragma: no cover - closing must not mask why the thread ended
                logger.exception("closing the engine failed")
            logger.info("engine thread stopped")
