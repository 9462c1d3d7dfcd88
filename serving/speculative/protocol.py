"""The edge <-> verifier wire protocol: compact msgpack messages, token ids as packed int32.

One gRPC bidirectional stream is one session (one request of one user):

- edge -> server ``OpenSession``: the prompt's token ids, the sampling parameters, the tokenizer's
  fingerprint (drafts are token ids, so both ends must share the tokenizer).
- server -> edge ``VerdictMessage`` (round 0): the target's first token(s) after prefilling the prompt.
- edge -> server ``Draft``: k proposed token ids continuing the sequence at ``position`` (the length the
  edge believes the sequence has), plus the draft's sparse distributions when it sampled.
- server -> edge ``VerdictMessage``: how many draft tokens were accepted and every token the server appended
  (the accepted drafts, the target's own next token, any grammar-forced tokens), whether the request
  finished, the draft length the server advises now and the server time the round cost.
- a failed session ends with a gRPC status whose details read ``"<code>: <message>"``
  (``ErrorMessage``, codes in ``ERROR_CODES``); gRPC cannot deliver a message after a final status, so
  errors travel in the status only.

No dense masks or logits travel: a draft of k tokens is ~30 + 4k bytes, plus 8 bytes per support
entry of each sparse distribution when the draft sampled; a verdict is ~50 bytes plus 4 per token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from splitsecond.serving.sampling_params import SamplingParams, StructuredOutput
from splitsecond.serving.speculative.verification import SparseDraftDist

PROTOCOL_VERSION = 1
SERVICE = "splitsecond.speculative.Verifier"
SESSION_METHOD = f"/{SERVICE}/Session"


class ProtocolError(ValueError):
    """A message that cannot be decoded or breaks the protocol."""


@dataclass
class OpenSession:
    """Start a session: ``prompt_token_ids`` under ``params`` (wire dict, see ``params_to_wire``).

    ``plain``: the edge will not draft; the server decodes the whole request as an ordinary one and
    answers one ``VerdictMessage`` per token (``accepted`` 0), with no draft expected in between.
    """

    session_id: str
    prompt_token_ids: list[int]
    params: dict[str, Any]
    tokenizer_fingerprint: str
    draft_source: str = ""
    plain: bool = False


@dataclass
class Draft:
    """Proposed tokens for round ``round``; ``position`` is the sequence length before them.

    ``dists[i]`` is the draft's distribution at token ``i`` when it sampled (exact sparse support);
    None for deterministic proposals (greedy draft, prompt lookup). ``free_run``: after verifying
    this draft the server decodes that many more tokens on its own, answering one ``VerdictMessage``
    per token (``accepted`` 0) — for stretches where the edge has nothing worth drafting.
    """

    round: int
    position: int
    token_ids: list[int]
    dists: list[SparseDraftDist] | None = None
    free_run: int = 0


@dataclass
class VerdictMessage:
    """The server's answer to a round (round 0: to ``OpenSession``).

    ``token_ids`` are the tokens appended this round, of which the first ``accepted`` are draft tokens;
    ``num_tokens`` is the sequence length afterwards; ``draft_limit`` the draft length advised for the
    next round; ``server_seconds`` this session's share of the server step that ran it; ``token_cost``
    what one more draft token costs the server relative to that share (0: not measured yet).
    """

    round: int
    accepted: int
    token_ids: list[int]
    num_tokens: int
    finish_reason: str | None = None
    stop_reason: str | int | None = None
    draft_limit: int = 0
    server_seconds: float = 0.0
    token_cost: float = 0.0
    cached_tokens: int = 0


#: Why a session failed, as the verifier reports it.
ERROR_CODES = ("invalid_argument", "tokenizer_mismatch", "desync", "timeout", "overloaded", "engine_error")


@dataclass
class ErrorMessage:
    """Why a session failed: ``code`` (one of ``ERROR_CODES``) and a human-readable message.

    Carried by the RPC's final status (``details`` = ``"<code>: <message>"``), not as a stream message.
    """

    code: str
    message: str

    def details(self) -> str:
        """The gRPC status details carrying this error."""
        return f"{self.code}: {self.message}"[:1000]

    @classmethod
    def from_details(cls, details: str | None) -> ErrorMessage | None:
        """Parse status details written by ``details()``; None when they are not ours."""
        code, sep, message = (details or "").partition(": ")
        return cls(code, message) if sep and code in ERROR_CODES else None


Message = OpenSession | Draft | VerdictMessage
_KINDS: dict[type, str] = {OpenSession: "open", Draft: "draft", VerdictMessage: "verdict"}


def _pack_ids(ids: list[int]) -> bytes:
    return np.asarray(ids, dtype="<i4").tobytes()


def _unpack_ids(raw: Any, what: str) -> list[int]:
    if not isinstance(raw, bytes) or len(raw) % 4:
        raise ProtocolError(f"{what} must be packed int32 bytes")
    return np.frombuffer(raw, dtype="<i4").tolist()


def encode(msg: Message) -> bytes:
    """Serialise a message (the gRPC request/response serializer)."""
    kind = _KINDS.get(type(msg))
    if kind is None:
        raise TypeError(f"not a protocol message: {type(msg).__name__}")
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "t": kind}
    if isinstance(msg, OpenSession):
        body.update(
            sid=msg.session_id,
            prompt=_pack_ids(msg.prompt_token_ids),
            params=msg.params,
            tok=msg.tokenizer_fingerprint,
            src=msg.draft_source,
        )
        if msg.plain:
            body["plain"] = True
    elif isinstance(msg, Draft):
        body.update(r=msg.round, pos=msg.position, ids=_pack_ids(msg.token_ids), fr=msg.free_run)
        if msg.dists is not None:
            body["q"] = [[_pack_ids(d.ids), np.asarray(d.probs, dtype="<f4").tobytes()] for d in msg.dists]
    else:
        body.update(
            r=msg.round,
            acc=msg.accepted,
            ids=_pack_ids(msg.token_ids),
            n=msg.num_tokens,
            fin=msg.finish_reason,
            stop=msg.stop_reason,
            kmax=msg.draft_limit,
            busy=msg.server_seconds,
            cost=msg.token_cost,
        )
        if msg.cached_tokens:
            body["cached"] = msg.cached_tokens
    return msgpack.packb(body, use_bin_type=True)


def _field(body: dict, key: str, types: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if not isinstance(value, types) or isinstance(value, bool):
        raise ProtocolError(f"{what}: field {key!r} is missing or has the wrong type")
    return value


def decode(raw: bytes) -> Message:
    """Parse a message (the gRPC deserializer); raises ``ProtocolError`` on anything malformed."""
    try:
        body = msgpack.unpackb(raw, raw=False)
    except Exception as e:  # msgpack raises several types for garbage
        raise ProtocolError(f"undecodable message: {e}") from e
    if not isinstance(body, dict):
        raise ProtocolError("a message must be a map")
    if body.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {body.get('v')!r} is not {PROTOCOL_VERSION}")
    kind = body.get("t")
    if kind == "open":
        params = _field(body, "params", dict, "open")
        return OpenSession(
            session_id=_field(body, "sid", str, "open"),
            prompt_token_ids=_unpack_ids(body.get("prompt"), "open.prompt"),
            params=params,
            tokenizer_fingerprint=_field(body, "tok", str, "open"),
            draft_source=body.get("src") or "",
            plain=body.get("plain") is True,
        )
    if kind == "draft":
        dists = None
        if body.get("q") is not None:
            q = body["q"]
            if not isinstance(q, list) or not all(isinstance(d, list) and len(d) == 2 for d in q):
                raise ProtocolError("draft.q must be a list of [ids, probs] pairs")
            dists = []
            for ids_raw, probs_raw in q:
                if not isinstance(probs_raw, bytes) or len(probs_raw) % 4:
                    raise ProtocolError("draft.q probs must be packed float32 bytes")
                dists.append(
                    SparseDraftDist(
                        _unpack_ids(ids_raw, "draft.q ids"), np.frombuffer(probs_raw, dtype="<f4").tolist()
                    )
                )
        return Draft(
            round=_field(body, "r", int, "draft"),
            position=_field(body, "pos", int, "draft"),
            token_ids=_unpack_ids(body.get("ids"), "draft.ids"),
            dists=dists,
            free_run=_field(body, "fr", int, "draft") if "fr" in body else 0,
        )
    if kind == "verdict":
        return VerdictMessage(
            round=_field(body, "r", int, "verdict"),
            accepted=_field(body, "acc", int, "verdict"),
            token_ids=_unpack_ids(body.get("ids"), "verdict.ids"),
            num_tokens=_field(body, "n", int, "verdict"),
            finish_reason=body.get("fin"),
            stop_reason=body.get("stop"),
            draft_limit=_field(body, "kmax", int, "verdict"),
            server_seconds=float(_field(body, "busy", (int, float), "verdict")),
            token_cost=float(body.get("cost") or 0.0),
            cached_tokens=_field(body, "cached", int, "verdict") if "cached" in body else 0,
        )
    raise ProtocolError(f"unknown message type {kind!r}")


def params_to_wire(params: SamplingParams) -> dict[str, Any]:
    """``SamplingParams`` as a plain dict for ``OpenSession.params``."""
    wire: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        if not f.init:
            continue
        value = getattr(params, f.name)
        if f.name == "structured" and value is not None:
            value = {k: v for k, v in dataclasses.asdict(value).items() if v not in (None, False)}
        wire[f.name] = value
    return wire


def params_from_wire(wire: dict[str, Any]) -> SamplingParams:
    """Rebuild (and validate) ``SamplingParams``; raises ``ProtocolError`` naming what is wrong."""
    allowed = {f.name for f in dataclasses.fields(SamplingParams) if f.init}
    unknown = set(wire) - allowed
    if unknown:
        raise ProtocolError(f"unknown sampling parameters {sorted(unknown)}; valid: {sorted(allowed)}")
    kwargs = dict(wire)
    try:
        if kwargs.get("structured") is not None:
            kwargs["structured"] = StructuredOutput(**kwargs["structured"])
        return SamplingParams(**kwargs)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"invalid sampling parameters: {e}") from e


def message_size(msg: Message) -> int:
    """Bytes ``msg`` takes on the wire (payload, before gRPC's 5-byte frame and HTTP/2 headers)."""
    return len(encode(msg))


__all__ = [
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "SERVICE",
    "SESSION_METHOD",
    "Draft",
    "ErrorMessage",
    "Message",
    "OpenSession",
    "ProtocolError",
    "VerdictMessage",
    "decode",
    "encode",
    "message_size",
    "params_from_wire",
    "params_to_wire",
]
