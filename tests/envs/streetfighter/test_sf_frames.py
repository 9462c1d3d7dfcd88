"""Frame-data mechanics of the StreetFighter engine, checked frame by frame."""

from __future__ import annotations

import random

import pytest

from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.actions import ACTION_NAMES, N_ACTIONS, action_index
from splitsecond.envs.streetfighter.engine import BREAK, OVER, MatchConfig, Simulation
from splitsecond.envs.streetfighter.frame_data import (
    CHARACTER_NAMES,
    CHARACTERS,
    INPUT_BUFFER_FRAMES,
    KNOCKDOWN_FRAMES,
    ROUND_BREAK_FRAMES,
    STAGE_WIDTH,
    punish_window,
)


def duel(gap: int, chars: tuple[str, str] = ("kai", "kai"), x0: int = 3000, **config) -> Simulation:
    """A simulation with the two bodies ``gap`` units apart, player 0 on the left."""
    sim = Simulation(MatchConfig(chars, **config))
    f0, f1 = sim.fighters
    f0.x = f0.px = x0
    f1.x = f1.px = x0 + f0.half_width + f1.half_width + gap
    return sim


def run(sim: Simulation, frames: int, script: dict[int, list[tuple[int, str]]] | None = None) -> Simulation:
    """Run ``frames`` frames; ``script[frame]`` lists ``(player, action name)`` landing on that frame."""
    script = script or {}
    end = sim.frame + frames
    while sim.frame < end and not sim.over:
        for player, name in script.get(sim.frame, ()):
            sim.set_input(player, action_index(name))
        sim.step_frame()
    return sim


def events(sim: Simulation, kind: str, player: int | None = None) -> list[tuple[int, str, int, str]]:
    return [e for e in sim.events if e[1] == kind and (player is None or e[2] == player)]


@pytest.mark.parametrize("char", CHARACTER_NAMES)
@pytest.mark.parametrize(
    "move", ["LP", "MP", "HP", "LK", "MK", "HK", "crouch_LK", "crouch_MK", "crouch_HK", "overhead"]
)
def test_a_move_hits_exactly_on_its_startup_frame(char: str, move: str) -> None:
    sim = duel(100, (char, "kai"))
    run(sim, 60, {0: [(0, move)]})
    hits = events(sim, "hit", 0)
    assert hits, f"{char} {move} did not hit"
    startup = CHARACTERS[char].moves[move].startup
    assert hits[0][0] == startup - 1  # started on frame 0 = move frame 1


def _blocked_hp_then_jab(land: int) -> Simulation:
    """P0 swings HP at a crouch-blocking P1 and then holds block; P1's jab lands on frame ``land``."""
    sim = duel(40)  # close enough that the jab still reaches after the pushback
    return run(sim, 80, {0: [(0, "HP"), (1, "block_low")], 1: [(0, "block_high")], land: [(1, "LP")]})


def test_blocked_heavy_is_punishable_only_within_its_window() -> None:
    kai = CHARACTERS["kai"]
    hp, jab = kai.moves["HP"], kai.moves["LP"]
    hit_frame = hp.startup - 1
    first_free = hit_frame + hp.blockstun + 1
    window = punish_window(hp, jab)
    assert window == -hp.on_block - jab.startup + 1 == 5
    for land in range(first_free, first_free + window):
        sim = _blocked_hp_then_jab(land)
        assert events(sim, "block", 0), "the heavy was not blocked"
        assert events(sim, "hit", 1), f"jab landing on frame {land} should punish"
    # One frame too late: the attacker has recovered and blocks.
    late = _blocked_hp_then_jab(first_free + window)
    assert not events(late, "hit", 1)
    assert events(late, "block", 1)


def test_punish_press_is_buffered_but_not_forever() -> None:
    kai = CHARACTERS["kai"]
    hp = kai.moves["HP"]
    first_free = hp.startup - 1 + hp.blockstun + 1
    buffered = _blocked_hp_then_jab(first_free - INPUT_BUFFER_FRAMES + 1)
    assert events(buffered, "hit", 1)
    dropped = _blocked_hp_then_jab(first_free - INPUT_BUFFER_FRAMES)
    assert not events(dropped, "hit", 1) and not events(dropped, "block", 1)


@pytest.mark.parametrize("guard", ["block_high", "block_low"])
def test_throw_beats_block(guard: str) -> None:
    strike = run(duel(60), 40, {0: [(0, "LP"), (1, guard)]})
    assert events(strike, "block", 0) and not events(strike, "hit", 0)
    sim = run(duel(60), 40, {0: [(0, "throw"), (1, guard)]})
    assert events(sim, "throw", 0)
    kai = CHARACTERS["kai"]
    assert sim.fighters[1].health == kai.health - kai.moves["throw"].damage
    assert sim.fighters[1].state == F.KNOCKDOWN


def test_throw_whiffs_out_of_range_and_two_throws_tech() -> None:
    far = run(duel(400), 40, {0: [(0, "throw")]})
    assert not events(far, "throw")
    both = run(duel(60), 40, {0: [(0, "throw"), (1, "throw")]})
    assert events(both, "tech") and not events(both, "throw")
    assert all(f.health == f.char.health for f in both.fighters)


def test_chip_damage_on_block_from_specials_only() -> None:
    kai = CHARACTERS["kai"]
    sim = run(duel(2000 - 400), 80, {0: [(0, "projectile"), (1, "block_low")]})
    assert events(sim, "block", 0)
    assert sim.fighters[1].health == kai.health - kai.moves["projectile"].chip
    normal = run(duel(100), 40, {0: [(0, "HP"), (1, "block_low")]})
    assert events(normal, "block", 0)
    assert normal.fighters[1].health == kai.health


@pytest.mark.parametrize(
    ("move", "wrong", "right"),
    [
        ("crouch_MK", "block_high", "block_low"),
        ("overhead", "block_low", "block_high"),
        ("HP", None, "block_high"),
    ],
)
def test_levels_need_the_right_guard(move: str, wrong: str | None, right: str) -> None:
    if wrong is not None:
        sim = run(duel(100), 40, {0: [(0, move), (1, wrong)]})
        assert events(sim, "hit", 0), f"{move} should beat {wrong}"
    sim = run(duel(100), 40, {0: [(0, move), (1, right)]})
    assert events(sim, "block", 0) and not events(sim, "hit", 0), f"{right} should block {move}"


def _jump_in(aa_land: int | None) -> Simulation:
    """P1 forward-jumps at frame 0 from the round-start distance and presses HK 26 frames later."""
    script: dict[int, list[tuple[int, str]]] = {0: [(1, "jump_forward")], 26: [(1, "HK")]}
    if aa_land is not None:
        script.setdefault(aa_land, []).append((0, "anti_air"))
    return run(Simulation(), 90, script)


def test_anti_air_beats_a_jump_inside_its_documented_window() -> None:
    no_aa = _jump_in(None)
    assert events(no_aa, "hit", 1)[0][0] == 33  # the jump-in connects on frame 33
    for land in range(21, 34):
        sim = _jump_in(land)
        hits = events(sim, "hit")
        assert hits and hits[0][2] == 0 and "anti_air" in hits[0][3], f"anti-air landing on {land}"
        assert sim.fighters[1].state in (F.FALLING, F.KNOCKDOWN)
    for land in (20, 34):
        hits = events(_jump_in(land), "hit")
        assert not hits or hits[0][2] == 1, f"anti-air landing on {land} should not win"


def test_projectile_can_be_blocked_on_reaction_within_its_window() -> None:
    # P1 throws at frame 0 from the round-start distance; it appears on frame 12 and arrives 29 frames later.
    base = run(Simulation(), 60, {0: [(1, "projectile")]})
    spawn = events(base, "projectile", 1)[0][0]
    arrival = events(base, "hit", 1)[0][0]
    assert (spawn, arrival - spawn) == (12, 29)
    in_time = run(Simulation(), 60, {0: [(1, "projectile")], arrival: [(0, "block_high")]})
    assert events(in_time, "block", 1) and not events(in_time, "hit", 1)
    late = run(Simulation(), 60, {0: [(1, "projectile")], arrival + 1: [(0, "block_high")]})
    assert events(late, "hit", 1)


def test_cancel_makes_a_combo() -> None:
    sim = run(duel(100), 60, {0: [(0, "crouch_MK"), (1, "crouch")], 6: [(0, "rush")]})
    hits = events(sim, "hit", 0)
    assert len(hits) == 2 and "combo 2" in hits[1][3]
    # Without the cancel, the rush comes out too late and the defender (now blocking) blocks it.
    late = run(duel(100), 60, {0: [(0, "crouch_MK"), (1, "crouch")], 18: [(0, "rush"), (1, "block_low")]})
    assert len(events(late, "hit", 0)) == 1


def test_light_attacks_chain() -> None:
    sim = run(duel(60), 40, {0: [(0, "crouch_LK")], 4: [(0, "crouch_LP")]})
    hits = events(sim, "hit", 0)
    assert len(hits) == 2 and "combo 2" in hits[1][3]


def test_sweep_knocks_down_and_the_floor_is_invulnerable() -> None:
    sim = run(duel(100), 12, {0: [(0, "crouch_HK")]})
    assert sim.fighters[1].state == F.KNOCKDOWN and sim.fighters[1].hurtbox() is None
    run(sim, 30, {sim.frame + 18: [(0, "LP")]})  # swings at a fighter on the floor
    assert len(events(sim, "hit", 0)) == 1
    run(sim, KNOCKDOWN_FRAMES)
    assert sim.fighters[1].state in (F.STAND, F.CROUCH)


def test_corner_pushback_moves_the_attacker() -> None:
    sim = duel(60, x0=STAGE_WIDTH - 200 - 200 - 200 - 60 - 200)
    f0, f1 = sim.fighters
    f1.x = STAGE_WIDTH - f1.half_width  # defender in the corner
    f0.x = f1.x - f0.half_width - f1.half_width - 60
    start = f0.x
    run(sim, 30, {0: [(0, "MP"), (1, "block_low")]})
    assert events(sim, "block", 0)
    assert f1.x == STAGE_WIDTH - f1.half_width
    assert f0.x < start


def test_bodies_never_overlap_on_the_ground_and_stay_on_stage() -> None:
    sim = Simulation()
    rng = random.Random(3)
    for _ in range(4000):
        if sim.frame % 6 == 0:
            sim.set_input(0, rng.randrange(N_ACTIONS))
            sim.set_input(1, rng.randrange(N_ACTIONS))
        sim.step_frame()
        f0, f1 = sim.fighters
        for f in (f0, f1):
            assert f.half_width <= f.x <= STAGE_WIDTH - f.half_width
        if f0.y == 0 and f1.y == 0 and sim.phase == 0:
            assert abs(f0.x - f1.x) >= f0.half_width + f1.half_width
        if sim.over:
            break


def test_frame_advantage_after_a_hit_matches_the_frame_data() -> None:
    from splitsecond.envs.streetfighter.observation import FIGHTER_INDEX, MATCH_INDEX, build_observation

    sim = run(duel(100), 4, {0: [(0, "LP")]})
    assert events(sim, "hit", 0)[0][0] == 3
    obs = build_observation(sim, 0)
    lp = CHARACTERS["kai"].moves["LP"]
    assert obs["match"][MATCH_INDEX["frame_advantage"]] == lp.on_hit
    assert obs["opponent"][FIGHTER_INDEX["state"]] == F.HITSTUN


def test_simulation_is_deterministic() -> None:
    def play(seed: int) -> list[tuple]:
        sim = Simulation(MatchConfig(("zara", "brick")))
        rng = random.Random(seed)
        snaps = []
        for _ in range(3000):
            if sim.frame % 4 == 0:
                sim.set_input(rng.randrange(2), rng.randrange(N_ACTIONS))
            sim.step_frame()
            snaps.append(sim.snapshot())
            if sim.over:
                break
        return snaps

    assert play(11) == play(11)
    assert play(11) != play(12)


def test_rounds_ko_break_and_best_of_three() -> None:
    sim = Simulation(MatchConfig(("kai", "kai"), rounds_to_win=2))
    sim.fighters[1].health = 10
    run(sim, 400, {0: [(0, "walk_forward")], 70: [(0, "LP")]})
    assert sim.fighters[0].rounds_won == 1
    assert events(sim, "round_end")
    assert sim.round == 2 and sim.phase == 0
    assert all(f.health == f.char.health for f in sim.fighters)
    sim.fighters[1].health = 10
    sim.set_input(0, action_index("walk_forward"))
    while not sim.over and sim.frame < 5000:
        if sim.phase == 0 and abs(sim.fighters[0].x - sim.fighters[1].x) < 500:
            sim.set_input(0, action_index("LP"))
        sim.step_frame()
    assert sim.phase == OVER and sim.winner == 0


def test_time_out_goes_to_the_healthier_fighter() -> None:
    sim = Simulation(MatchConfig(("kai", "zara"), round_seconds=1, rounds_to_win=1))
    sim.fighters[0].health = 500  # 50 % vs 100 %
    run(sim, 61)
    assert sim.phase == OVER and sim.winner == 1
    draw = Simulation(MatchConfig(("kai", "kai"), round_seconds=1, rounds_to_win=1))
    run(draw, 61)
    assert draw.phase == OVER and draw.winner is None


def test_round_break_freezes_the_world() -> None:
    sim = duel(100, rounds_to_win=2)
    sim.fighters[1].health = 1
    run(sim, 4, {0: [(0, "LP")]})  # the jab KOs on frame 3
    assert sim.phase == BREAK and sim.fighters[0].rounds_won == 1
    frozen = (sim.fighters[0].snapshot(), sim.fighters[1].snapshot(), sim.timer_frames)
    run(sim, ROUND_BREAK_FRAMES - 2, {sim.frame: [(1, "walk_forward"), (0, "dash_forward")]})
    assert sim.phase == BREAK
    assert (sim.fighters[0].x, sim.fighters[1].x, sim.timer_frames) == (frozen[0][0], frozen[1][0], frozen[2])
    run(sim, 2)
    assert sim.phase == 0 and sim.round == 2
    assert sim.timer_frames == sim.config.round_frames


def test_action_names_cover_every_move() -> None:
    for c in CHARACTERS.values():
        for name in ACTION_NAMES[11:]:
            assert name in c.moves
