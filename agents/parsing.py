"""Robust parsing of a model's answer into one of an env's named actions.

Small models answer in many shapes: a bare name (``punch``), a JSON object
(``{"action": "punch"}``, possibly inside a code fence), a sentence that ends in
``Action: punch``, a name with other casing or spacing (``Move Left`` for ``move_left``), or an
index (``3``). :func:`parse_action` accepts all of these and refuses, with a reason, whatever is
ambiguous or names no valid action; it never raises on model output.

The order of attempts, first match wins:

1. the whole answer is a name (``exact``);
2. a JSON object with an ``action`` (or ``move``/``choice``/``answer``) key (``json``);
3. the last ``Action:`` / ``Final answer:`` / ``Answer:`` marker (``final``);
4. exactly one distinct action name mentioned as a whole word (``mention``);
5. the whole answer is an integer index, when ``allow_index`` (``index``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from splitsecond.agents.base import EnvSpec

_JSON_KEYS = ("action", "move", "choice", "answer", "final_answer")
_FINAL_MARKER = re.compile(
    r"(?:final\s+answer|final\s+action|action|answer|move|choice)\s*[:=\-]+\s*[\"'`*]*\s*([A-Za-z0-9_ \-]+)",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ParseResult:
    """The outcome of parsing one answer.

    Attributes:
        index: the action's index in the action names, or ``None`` when parsing failed.
        name: the canonical action name, or ``None``.
        method: how it was found (``exact``, ``json``, ``final``, ``mention``, ``index``) or
            ``failed``.
        error: why parsing failed, or ``None``.
    """

    index: int | None
    name: str | None
    method: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether a valid action was found."""
        return self.index is not None


def normalize(text: str) -> str:
    """Canonical form of an action name: lower case, words joined by ``_``."""
    return re.sub(r"[\s\-_]+", "_", text.strip().strip("\"'`*.,;:!?()[]{}<>").strip().lower())


def _lookup(candidate: str, table: dict[str, int]) -> int | None:
    return table.get(normalize(candidate))


def _json_candidates(text: str) -> list[str]:
    """Values of action-like keys in the JSON objects found in ``text`` (fenced or inline)."""
    blobs = [m.group(1) for m in _FENCE.finditer(text)]
    blobs += re.findall(r"\{[^{}]*\}", text)
    found: list[str] = []
    for blob in blobs:
        try:
            obj = json.loads(blob)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(obj, dict):
            for key in _JSON_KEYS:
                value = obj.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    found.append(str(value))
                    break
        elif isinstance(obj, str):
            found.append(obj)
    return found


def _mention_spans(text: str, names: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(start, end, index)`` of every whole-word mention of an action name in ``text``.

    Longer names are matched first, and a mention inside a longer mentioned name (``jump`` inside
    ``jump_forward``) does not count.
    """
    lowered = re.sub(r"[\s\-]+", "_", text.lower())
    spans: list[tuple[int, int, int]] = []
    order = sorted(range(len(names)), key=lambda i: -len(names[i]))
    for i in order:
        pattern = r"(?<![a-z0-9])" + re.escape(normalize(names[i])) + r"(?![a-z0-9])"
        for m in re.finditer(pattern, lowered):
            if any(s <= m.start() and m.end() <= e for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), i))
    return spans


def _mentions(text: str, names: Sequence[str]) -> list[int]:
    """Indices of the distinct action names mentioned in ``text`` as whole words."""
    hits: list[int] = []
    for _, _, i in _mention_spans(text, names):
        if i not in hits:
            hits.append(i)
    return hits


def actions_in_order(text: str | None, action_names: Sequence[str]) -> list[int]:
    """The action indices a text (a plan) names as whole words, in reading order, repeats kept.

    ``"approach, then low_kick twice: low kick"`` with names ``[..., "approach", "low_kick"]``
    gives ``[approach, low_kick, low_kick]``. Empty when nothing is named.
    """
    if not text:
        return []
    return [i for _, _, i in sorted(_mention_spans(text, action_names))]


def parse_action(text: str | None, action_names: Sequence[str], allow_index: bool = True) -> ParseResult:
    """Find the action a model's answer names; see the module docstring for the accepted shapes.

    Args:
        text: the model's raw answer (``None`` and empty strings fail cleanly).
        action_names: the env's action names, index-aligned with its ``Discrete`` space.
        allow_index: accept a bare integer as an action index.

    Returns:
        A :class:`ParseResult`; ``result.ok`` tells whether a valid action was found.
    """
    if not action_names:
        raise ValueError("action_names must not be empty")
    table = {normalize(n): i for i, n in enumerate(action_names)}
    if text is None or not text.strip():
        return ParseResult(None, None, "failed", "empty answer")
    stripped = text.strip()

    def hit(index: int, method: str) -> ParseResult:
        return ParseResult(index, action_names[index], method)

    index = _lookup(stripped, table)
    if index is not None:
        return hit(index, "exact")

    for candidate in reversed(_json_candidates(stripped)):
        index = _lookup(candidate, table)
        if index is None and allow_index and candidate.strip().isdigit():
            value = int(candidate.strip())
            index = value if value < len(action_names) else None
        if index is not None:
            return hit(index, "json")

    for m in reversed(list(_FINAL_MARKER.finditer(stripped))):
        tail = m.group(1)
        index = _lookup(tail, table)
        if index is None:
            inner = _mentions(tail, action_names)
            index = inner[0] if len(inner) == 1 else None
        if index is not None:
            return hit(index, "final")

    mentioned = _mentions(stripped, action_names)
    if len(mentioned) == 1:
        return hit(mentioned[0], "mention")

    if allow_index and re.fullmatch(r"[\"'`]?\d+[\"'`.]?", stripped):
        value = int(re.sub(r"\D", "", stripped))
        if value < len(action_names):
            return hit(value, "index")
        return ParseResult(None, None, "failed", f"index {value} out of range 0..{len(action_names) - 1}")

    if len(mentioned) > 1:
        names = ", ".join(action_names[i] for i in mentioned)
        return ParseResult(None, None, "failed", f"ambiguous answer names several actions: {names}")
    snippet = stripped if len(stripped) <= 60 else stripped[:57] + "..."
    return ParseResult(None, None, "failed", f"no valid action in {snippet!r}")


def parse_text_action(text: str | None, spec: EnvSpec) -> ParseResult:
    """Parse a free-text action (e.g. HFTBench orders) for an env without named actions.

    An answer that is a JSON object (``{"action": "BUY 100 ACME @ MKT"}``, what a JSON-schema
    constraint yields) gives the value of its action key (the last such object's). Otherwise code fences and blank lines
    are dropped; each remaining line is checked with ``spec.metadata["text_action_validator"]`` (a
    callable that raises ``ValueError`` on a bad line) when the env provides one, and the valid
    lines are kept. Without a validator the first line is taken. The result's ``name`` holds the
    action text (``index`` is 0) and ``method`` is ``json`` or ``text``.
    """
    if text is None or not text.strip():
        return ParseResult(None, None, "failed", "empty answer")
    body = _FENCE.sub(lambda m: m.group(1), text)
    method = "text"
    from_json = _json_candidates(text) if body.strip().startswith("{") else []
    if from_json:
        body, method = from_json[-1], "json"  # fenced and inline matches may repeat one object
    lines = [ln.strip().strip("`*").strip() for ln in body.splitlines()]
    lines = [ln for ln in lines if ln]
    validator = spec.metadata.get("text_action_validator")
    if validator is None:
        return (
            ParseResult(0, lines[0], method) if lines else ParseResult(None, None, "failed", "empty answer")
        )
    valid, errors = [], []
    for line in lines:
        candidate = re.sub(r"^(?:action|orders?|answer)\s*[:=]\s*", "", line, flags=re.IGNORECASE)
        try:
            validator(candidate)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        valid.append(candidate)
    if not valid:
        return ParseResult(None, None, "failed", errors[0] if errors else "no valid line")
    return ParseResult(0, "\n".join(valid), method)
