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


def _allowed(compiler, matcher) -> set[int]:
    import torch

    from splitsecond.serving.constrained.grammar import bitmask_to_ids

    mask = torch.zeros(1, (compiler.vocab_size + 31) // 32, dtype=torch.int32)
    matcher.fill_bitmask(mask, 0)
    return set(bitmask_to_ids(mask[0], compiler.vocab_size).tolist())


def test_a_choice_follows_each_options_canonical_tokens(compiler):
    tok = compiler.tokenizer
    options = ["dragon_punch", "dash_back", "jump", "jump_back", "idle"]
    canonical = {o: tok.encode(o, add_special_tokens=False) for o in options}
    matcher = compiler.matcher(compiler.compile(StructuredOutput(choice=options)))
    # Only the options' canonical first tokens, not every token that spells a prefix ("d", "da", "j"...)
    assert _allowed(compiler, matcher) == {ids[0] for ids in canonical.values()}
    # "dragon_punch" starts with the token "d", which no other option's tokenization starts with:
    # the rest is forced, so the action costs one forward pass.
    first = canonical["dragon_punch"][0]
    assert all(ids[0] != first for o, ids in canonical.items() if o != "dragon_punch")
    assert matcher.accept(first) and matcher.forced_tokens() == canonical["dragon_punch"][1:]
    # A non-canonical spelling of an option is refused.
    other = compiler.matcher(compiler.compile(StructuredOutput(choice=options)))
    spelled = [tok.token_to_id("j"), tok.token_to_id("ump")]
    assert None not in spelled and spelled != canonical["jump"][:2] and not other.accept(spelled[0])
    # "jump" is a prefix of "jump_back": after its token, both the end and "_back" stay open.
    both = compiler.matcher(compiler.compile(StructuredOutput(choice=options)))
    assert both.accept(canonical["jump"][0]) and both.is_accepting and not both.is_stopped
    assert canonical["jump_back"][1] in _allowed(compiler, both)


def test_a_choice_naming_a_special_token_keeps_the_character_grammar(compiler):
    eos = compiler.tokenizer.id_to_token(compiler.tokenizer.eos_token_id)
    assert compiler.tokenizer.encode(eos, add_special_tokens=False) == [compiler.tokenizer.eos_token_id]
    grammar = compiler.compile(StructuredOutput(choice=[eos, "jump"]))
    assert "<[" not in grammar  # spelled with ordinary tokens, never the EOS token itself
    matcher = compiler.matcher(grammar)
    assert compiler.tokenizer.eos_token_id not in _allowed(compiler, matcher)
    assert all(matcher.accept(t) for t in compiler.tokenizer.encode("jump", add_special_tokens=False))
