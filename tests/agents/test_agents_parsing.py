"""Parsing model answers into StreetFighter-like action names: many malformed shapes."""

import pytest

from splitsecond.agents.parsing import actions_in_order, normalize, parse_action

NAMES = (
    "idle", "walk_forward", "walk_back", "jump_up", "jump_forward", "block_high", "block_low",
    "LP", "HP", "crouch_LP", "crouch_HP", "projectile", "anti_air",
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "name", "method"),
    [
        ("LP", "LP", "exact"),
        ("  lp \n", "LP", "exact"),
        ("walk forward", "walk_forward", "exact"),
        ("Walk-Forward.", "walk_forward", "exact"),
        ('"projectile"', "projectile", "exact"),
        ("**anti_air**", "anti_air", "exact"),
        ('{"action": "block_low"}', "block_low", "json"),
        ('```json\n{"action": "HP"}\n```', "HP", "json"),
        ('Sure! {"move": "crouch_HP"} is best', "crouch_HP", "json"),
        ('{"action": 3}', "jump_up", "json"),
        ("I think we should jump. Action: jump_forward", "jump_forward", "final"),
        ("The opponent is far.\nFinal answer: projectile", "projectile", "final"),
        ("action = walk_back because they rush", "walk_back", "final"),
        ("Consider LP or HP. Action: HP", "HP", "final"),
        ("I would block_high here.", "block_high", "mention"),
        ("jump_forward!", "jump_forward", "exact"),
        ("Use jump_forward now", "jump_forward", "mention"),
        ("7", "LP", "index"),
        ("0", "idle", "index"),
    ],
)
def test_parses_many_shapes(text, name, method):
    result = parse_action(text, NAMES)
    assert result.ok, result.error
    assert (result.name, result.method) == (name, method)
    assert NAMES[result.index] == name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "empty"),
        ("", "empty"),
        ("   \n\t", "empty"),
        ("fireball!", "no valid action"),
        ("LP or HP, hard to say", "ambiguous"),
        ("99", "out of range"),
        ('{"action": "hadoken"}', "no valid action"),
        ('{"action": ', "no valid action"),
        ("jump", "no valid action"),  # a prefix of jump_up / jump_forward is not a name
        ("-1", "no valid action"),
        ("\x00\x01garbage\uffff", "no valid action"),
    ],
)
def test_refuses_with_a_reason(text, reason):
    result = parse_action(text, NAMES)
    assert not result.ok
    assert result.method == "failed"
    assert reason in result.error


def test_longer_name_wins_over_contained_name():
    names = ("jump", "jump_forward", "idle")
    assert parse_action("do a jump_forward", names).name == "jump_forward"
    assert parse_action("do a jump now", names).name == "jump"


def test_index_can_be_disabled():
    assert not parse_action("3", NAMES, allow_index=False).ok


def test_very_long_answer_does_not_break():
    text = "hmm " * 5000 + "Action: LP"
    assert parse_action(text, NAMES).name == "LP"


def test_normalize_and_empty_names():
    assert normalize(" Block-High ") == "block_high"
    with pytest.raises(ValueError):
        parse_action("LP", ())


def test_actions_in_order_keeps_reading_order_and_repeats():
    names = ["approach", "low_kick", "jump", "jump_forward", "kick"]
    text = "Approach, then low kick: low_kick again. Jump forward!"
    assert actions_in_order(text, names) == [0, 1, 1, 3]
    assert actions_in_order("wait and see", names) == [] and actions_in_order(None, names) == []
