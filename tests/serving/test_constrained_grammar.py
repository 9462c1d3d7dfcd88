"""GrammarCompiler: validation errors, and matchers copied from a per-grammar template stay independent."""

from __future__ import annotations

import pytest

from splitsecond.serving import InvalidSchemaError, StructuredOutput
from splitsecond.serving.constrained.grammar import GrammarCompiler
from splitsecond.serving.loader.model_loader import load_tokenizer

ACTIONS = ["block_high", "block_low", "fireball", "jump"]


@pytest.fixture(scope="module")
def compiler():
    return GrammarCompiler(load_tokenizer("smollm2-135m"))


def test_matchers_of_one_grammar_are_independent(compiler):
    grammar = compiler.compile(StructuredOutput(choice=ACTIONS))
    first = compiler.matcher(grammar)
    tokens = compiler.tokenizer.encode("fireball")
    for t in tokens:
        assert first.accept(t)
    assert first.is_stopped
    second = compiler.matcher(grammar)  # copied from the template, which `first` never touched
    assert not second.is_accepting and not second.is_stopped
    assert not second.accept(compiler.tokenizer.encode("kick")[0])  # outside the choice
    third = compiler.matcher(grammar)
    for t in compiler.tokenizer.encode("jump"):
        assert third.accept(t)
    assert third.is_accepting and first.is_stopped


def test_an_invalid_schema_is_refused_every_time(compiler):
    bad = StructuredOutput(json_schema={"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    for _ in range(2):
        with pytest.raises(InvalidSchemaError):
            compiler.matcher(compiler.compile(bad))
