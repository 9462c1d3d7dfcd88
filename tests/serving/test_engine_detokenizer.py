"""Incremental detokenisation and stop strings with the real SmolLM2 tokenizer (no model needed)."""

from __future__ import annotations

import pytest

from splitsecond.serving import resolve_model
from splitsecond.serving.engine.detokenizer import IncrementalDetokenizer
from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_gguf_metadata(GGUFFile(resolve_model("smollm2-135m").path).metadata)


def feed(detok, ids):
    for i in ids:
        stop = detok.append(i)
        if stop is not None:
            return stop
    return None


def test_incremental_text_equals_full_decode(tok):
    text = "Héllo wörld — ünïcode ✓ and emoji 🎮 plus code: def f(x): return x**2"
    ids = tok.encode(text)
    detok = IncrementalDetokenizer(tok, ())
    seen = []
    for i in ids:
        detok.append(i)
        seen.append(detok.text)
        assert "\ufffd" not in detok.text  # never half a UTF-8 character
    assert detok.text == tok.decode(ids) == text
    assert all(a == b[: len(a)] for a, b in zip(seen, seen[1:], strict=False))  # only ever grows


def test_stop_string_spanning_tokens_is_found_and_trimmed(tok):
    text = "The answer is forty-two. END OF ANSWER and more"
    ids = tok.encode(text)
    detok = IncrementalDetokenizer(tok, ("END OF ANSWER",))
    assert feed(detok, ids) == "END OF ANSWER"
    assert detok.text == "The answer is forty-two. "


def test_partial_stop_prefix_is_held_back_from_the_stream(tok):
    detok = IncrementalDetokenizer(tok, ("<stop>",))
    feed(detok, tok.encode("abc <st"))
    assert detok.text.endswith("<st")
    assert detok.emittable_len(finished=False) == len(detok.text) - len("<st")
    assert detok.emittable_len(finished=True) == len(detok.text)
