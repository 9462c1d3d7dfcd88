"""JSON Schema constraints the way OpenAI's structured outputs read them, and bounds on JSON nesting.

Plain JSON Schema lets an object hold properties its schema never lists and any whitespace between
tokens; a small model uses both (SmolLM2 asked for ``{"move": <enum>}`` answered
``{"move": "PUNCH", "opponent": "Crusader"}``, or ran out of tokens inside an invented object). The
"strict" mode, the default, follows OpenAI's structured outputs instead:

- an object schema with ``properties`` admits no other property unless it says so: a missing
  ``additionalProperties`` reads as ``false`` (direct ``allOf`` members are left alone, since they
  describe parts of one object);
- no free whitespace: items and keys are separated by exactly ``,`` and ``:``;
- ``required`` is kept as given (a property it does not list may be left out).

"permissive" compiles the schema as plain JSON Schema (what the engine did before).
"""

from __future__ import annotations

import json
from typing import Any

JSON_SCHEMA_MODES = ("strict", "permissive")
"""Values of ``StructuredOutput.json_schema_mode``."""

MAX_SCHEMA_DEPTH = 32
"""Deepest nesting of dicts and lists in a JSON schema (16 levels of nested objects)."""

MAX_SCHEMA_BYTES = 64 * 1024
"""Largest JSON schema, in bytes of compact JSON."""

# Keywords whose value is one schema, a list of schemas, or a dict of name -> schema.
_ONE = ("items", "additionalItems", "unevaluatedItems", "contains", "propertyNames", "not", "if", "then",
        "else", "additionalProperties", "unevaluatedProperties")  # fmt: skip
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems", "items")
_DICT = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")

# llguidance's JSON compile options for strict mode: compact separators and no whitespace.
_STRICT_OPTIONS = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of dicts and lists in ``value`` (a scalar is 0, ``[]`` is 1), counted without
    recursion; stops at ``limit`` (returned as soon as some branch reaches it)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        depth += 1
        if depth >= limit:
            return limit
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON; ``ValueError`` when it is not JSON (call after ``json_depth``)."""
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not a JSON value: {exc}") from None


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in which every object schema with ``properties`` and no
    ``additionalProperties`` / ``unevaluatedProperties`` gets ``additionalProperties: false``."""
    return _strict(schema, in_all_of=False)


def _strict(node: Any, in_all_of: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _ONE:
        if isinstance(node.get(key), dict):
            out[key] = _strict(node[key], False)
    for key in _LIST:
        if isinstance(node.get(key), list):
            out[key] = [_strict(s, key == "allOf") for s in node[key]]
    for key in _DICT:
        if isinstance(node.get(key), dict):
            out[key] = {name: _strict(s, False) for name, s in node[key].items()}
    closed = "additionalProperties" in node or "unevaluatedProperties" in node
    if isinstance(node.get("properties"), dict) and not closed and not in_all_of:
        out["additionalProperties"] = False
    return out


def json_schema_grammar(schema: dict[str, Any], mode: str = "strict") -> str:
    """The llguidance grammar for output valid under ``schema`` in ``mode`` ("strict" or "permissive").

    Raises ``ValueError`` when ``schema`` is not a JSON object (llguidance checks the rest when the
    grammar is validated).
    """
    import llguidance

    if mode not in JSON_SCHEMA_MODES:
        raise ValueError(f"json_schema_mode must be one of {JSON_SCHEMA_MODES}, got {mode!r}")
    if mode == "permissive":
        return llguidance.LLMatcher.grammar_from_json_schema(schema)
    return llguidance.LLMatcher.grammar_from_json_schema(strict_schema(schema), overrides=_STRICT_OPTIONS)
