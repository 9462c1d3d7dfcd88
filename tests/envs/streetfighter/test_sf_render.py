"""Rendering: stick-figure poses per state, hitboxes, move labels, decision panels, replays and GIFs."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from splitsecond.envs.streetfighter import Replay, StreetFighterEnv, action_index, make_opponent, multi_env
from splitsecond.envs.streetfighter import actions as A
from splitsecond.envs.streetfighter import fighter as F
from splitsecond.envs.streetfighter.engine import BREAK, OVER, MatchConfig, Simulation
from splitsecond.envs.streetfighter.fighter import Fighter
from splitsecond.envs.streetfighter.frame_data import STAGE_WIDTH
from splitsecond.envs.streetfighter.render import GROUND, HEIGHT, WIDTH, render_frame
from splitsecond.envs.streetfighter.render_canvas import draw_text
from splitsecond.envs.streetfighter.render_decisions import Decision, decision_log, latest_decisions
from splitsecond.envs.streetfighter.render_gif import gif_frame
from splitsecond.envs.streetfighter.render_hud import BAR_W, PANEL_H, PANEL_Y
from splitsecond.envs.streetfighter.render_labels import move_label
from splitsecond.envs.streetfighter.render_pose import B_FOOT, F_FOOT, F_HAND, fighter_pose

LP = action_index("LP")
Mutator = Callable[[Fighter], None]


def _sim(mutate: Mutator | None = None) -> Simulation:
    sim = Simulation(MatchConfig(("kai", "zara")))
    if mutate is not None:
        mutate(sim.fighters[0])
    return sim


def _state(state: int, **fields: object) -> Mutator:
    def mutate(f: Fighter) -> None:
        f.state = state
        for name, value in fields.items():
            setattr(f, name, value)

    return mutate


def _move(name: str, move_frame: int) -> Mutator:
    def mutate(f: Fighter) -> None:
        f.state = F.AIR_MOVE if name.startswith("air_") else F.MOVE
        f.move = f.char.moves[name]
        f.move_frame = move_frame
        if name.startswith("air_"):
            f.y, f.vy = 600, -10

    return mutate


def _fighter_crop(img: np.ndarray, f: Fighter) -> np.ndarray:
    """The stage around fighter ``f`` (below the HUD), where its figure, label and pop-ups are drawn."""
    x = int(f.x / 10)
    return img[100:HEIGHT, max(0, x - 80) : x + 80]


_STATES: dict[str, Mutator] = {
    "idle": _state(F.STAND),
    "walk": _state(F.STAND, dir=A.FORWARD),
    "walk_back": _state(F.STAND, dir=A.BACK),
    "guard_high": _state(F.STAND, dir=A.GUARD),
    "crouch": _state(F.CROUCH, dir=A.DOWN, crouching=True),
    "guard_low": _state(F.CROUCH, dir=A.DOWN_BACK, crouching=True),
    "prejump": _state(F.PREJUMP, timer=2),
    "jump": _state(F.AIR, y=700, vy=20),
    "landing": _state(F.LANDING, timer=2),
    "hitstun": _state(F.HITSTUN, timer=10),
    "blockstun_high": _state(F.BLOCKSTUN, timer=8, dir=A.GUARD),
    "blockstun_low": _state(F.BLOCKSTUN, timer=8, dir=A.DOWN_BACK, crouching=True),
    "falling": _state(F.FALLING, y=500, vy=5),
    "knockdown": _state(F.KNOCKDOWN, timer=30),
    "getting_up": _state(F.KNOCKDOWN, timer=5),
    "ko": _state(F.KO),
    "punch_startup": _move("HP", 4),
    "punch_active": _move("HP", 9),
    "punch_recovery": _move("HP", 20),
    "kick_startup": _move("MK", 3),
    "kick_active": _move("MK", 7),
    "kick_recovery": _move("MK", 16),
    "throw_active": _move("throw", 5),
    "projectile_active": _move("projectile", 13),
    "anti_air_active": _move("anti_air", 5),
    "rush_active": _move("rush", 14),
    "dash_forward": _move("dash_forward", 3),
    "dash_back": _move("dash_back", 3),
    "air_kick_active": _move("air_HK", 9),
}


def test_each_state_has_its_own_pose_and_image() -> None:
    crops = {}
    for expected, mutate in _STATES.items():
        sim = _sim(mutate)
        f = sim.fighters[0]
        assert fighter_pose(f, sim.frame).name == expected
        img = render_frame(sim)
        assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
        crops[expected] = _fighter_crop(img, f)
    for (a, ca), (b, cb) in itertools.combinations(crops.items(), 2):
        changed = np.any(ca != cb, axis=2).sum()
        assert changed > 40, f"{a} and {b} look alike ({changed} pixels differ)"


def test_fighters_in_the_corners_and_off_the_top_render_clipped() -> None:
    for name, mutate in _STATES.items():
        for corner in (0, 1):

            def place(f: Fighter, mutate: Mutator = mutate, corner: int = corner) -> None:
                mutate(f)
                f.x = f.half_width if corner == 0 else STAGE_WIDTH - f.half_width
                f.facing = -1 if corner == 0 else 1
                if f.y:
                    f.y = 2600  # above the top of the screen

            sim = _sim(place)
            sim.events.append((sim.frame, "hit", 1, "HP 100 combo 3"))
            img = render_frame(sim, show_hitboxes=True, decisions=[(0, 0, LP, 5)])
            assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8, name


@pytest.mark.parametrize(
    ("move", "limb"), [("LP", F_HAND), ("HP", F_HAND), ("MK", F_FOOT), ("crouch_MK", F_FOOT)]
)
def test_the_striking_limb_reaches_into_the_hitbox_on_active_frames_only(move: str, limb: int) -> None:
    def reach(move_frame: int) -> tuple[float, float]:
        sim = _sim(_move(move, move_frame))
        return fighter_pose(sim.fighters[0]).joints[limb]

    mv = _sim().fighters[0].char.moves[move]
    box = mv.hitbox
    for mf in range(mv.startup, mv.last_active + 1):
        x, y = reach(mf)
        assert box.x0 <= x <= box.x1 and box.y0 - 30 <= y <= box.y1 + 30, (mf, x, y, box)
    assert reach(mv.startup - 1)[0] < reach(mv.startup)[0] - 100  # chambered just before it hits
    assert reach(mv.last_active + 1)[0] < reach(mv.startup)[0]  # pulled back in recovery


def test_facing_mirrors_the_figure() -> None:
    sim = _sim()
    f0, f1 = sim.fighters
    assert f0.facing == 1 and f1.facing == -1
    img = render_frame(sim)
    left, right = _fighter_crop(img, f0), _fighter_crop(img, f1)
    blue = (left[..., 2].astype(int) - left[..., 0]) > 80
    red = (right[..., 0].astype(int) - right[..., 2]) > 80
    assert blue.sum() > 300 and red.sum() > 300  # player 1 blue, player 2 red
    # The lead hand is on the side each one faces.
    p0, p1 = fighter_pose(f0), fighter_pose(f1)
    assert p0.joints[F_HAND][0] > p0.joints[B_FOOT][0] and p1.joints[F_HAND][0] > p1.joints[B_FOOT][0]


def test_show_hitboxes_outlines_hurt_and_hit_boxes() -> None:
    sim = _sim(_move("HP", 9))
    plain, boxed = render_frame(sim), render_frame(sim, show_hitboxes=True)
    green = np.all(boxed == (60, 255, 100), axis=2).sum()
    red = np.all(boxed == (255, 45, 45), axis=2).sum()
    assert green > 100 and red > 50
    assert np.all(plain == (60, 255, 100), axis=2).sum() == 0
    assert np.all(plain == (255, 45, 45), axis=2).sum() == 0


def test_the_move_name_appears_when_the_move_starts() -> None:
    sim = _sim()
    f = sim.fighters[0]
    for _ in range(3):
        sim.step_frame()
    before = render_frame(sim)
    sim.set_input(0, LP)
    sim.step_frame()
    assert f.state == F.MOVE and f.move_frame == 1 and move_label(f) == "LP"
    after = render_frame(sim)
    above = slice(GROUND - 160, GROUND - 100)
    x = slice(int(f.x / 10) - 40, int(f.x / 10) + 40)
    assert np.any(np.any(before[above, x] != after[above, x], axis=2).sum() > 30)
    while f.move is not None:
        sim.step_frame()
    assert move_label(f) == ""


def _panel(img: np.ndarray, player: int) -> np.ndarray:
    x0 = 20 if player == 0 else WIDTH - 20 - BAR_W
    return img[PANEL_Y : PANEL_Y + PANEL_H, x0 : x0 + BAR_W]


def test_the_decision_panel_shows_the_action_and_counts_down_to_landing() -> None:
    log = [(10, 0, LP, 16), (12, 1, action_index("crouch"), 14)]
    sim = _sim()
    while sim.frame < 10:
        sim.step_frame()
    panels = []
    for frame in range(10, 19):
        assert sim.frame == frame
        panels.append(_panel(render_frame(sim, decisions=log), 0).copy())
        sim.step_frame()
    for a, b in itertools.pairwise(panels[:7]):  # the countdown changes every frame until it lands
        assert np.any(a != b)
    assert np.array_equal(panels[7], panels[8])  # landed: nothing changes any more
    none = _panel(render_frame(sim, decisions=None), 0)
    empty = _panel(render_frame(sim, decisions=[]), 0)
    assert np.any(none != empty) and np.any(empty != panels[-1])


def test_latest_decisions_finds_each_players_latest() -> None:
    log = [(0, 0, 1, 3), (0, 1, 2, 5), (4, 0, 3, 9), (6, 1, 4, 6), (10, 0, 5, 10)]
    assert latest_decisions(log, 0) == (Decision(0, 0, 1, 3), Decision(0, 1, 2, 5))
    p0, p1 = latest_decisions(log, 7)
    assert p0 == Decision(4, 0, 3, 9) and p0.frames_left(7) == 2 and p0.ms_left(7) == 33
    assert p1 == Decision(6, 1, 4, 6) and p1.frames_left(7) == -1 and p1.latency_frames == 0
    assert latest_decisions(log, 10)[0].action_name == A.ACTION_NAMES[5]
    assert latest_decisions([], 5) == (None, None)
    assert latest_decisions([(3, 1, 0, 4)], 5) == (None, Decision(3, 1, 0, 4))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"a": 1}, "must be a list"),
        ([[1, 0, 2]], "row 0: expected"),
        ([[1, 0, 2, 3], [1, 0, True, 3]], "row 1: expected"),
        ([[1, 2, 0, 3]], "row 0: player must be 0 or 1, got 2"),
        ([[1, 0, 28, 3]], "row 0: action must be in 0..27, got 28"),
        ([[5, 0, 1, 3]], "row 0: need 0 <= decided <= lands"),
    ],
)
def test_decision_log_names_the_bad_row(rows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decision_log(rows, "replay meta 'decisions'")


def test_decision_log_sorts_rows() -> None:
    assert decision_log([[5, 1, 0, 6], [2, 0, 3, 4]]) == [(2, 0, 3, 4), (5, 1, 0, 6)]


def test_draw_text_rejects_an_unknown_anchor() -> None:
    with pytest.raises(ValueError, match="anchor must be"):
        draw_text(np.zeros((20, 20, 3), np.uint8), 0, 0, "x", (255, 255, 255), anchor="middle")


def test_banners_for_round_and_match_end() -> None:
    sim = _sim()
    fight = render_frame(sim)
    sim.phase = BREAK
    sim.fighters[1].health = 0
    ko = render_frame(sim)
    sim.phase, sim.winner = OVER, 0
    over = render_frame(sim)
    band = slice(112, 162)
    assert np.any(fight[band] != ko[band]) and np.any(ko[band] != over[band])


def test_env_records_decisions_and_its_frames_match_the_replay_gif(tmp_path: Path) -> None:
    env = StreetFighterEnv(
        clock="fixed", latency_ms=50.0, opponent="zoner", opponent_latency_ms=100.0, render_mode="rgb_array"
    )
    env.reset(seed=1)
    bot = make_opponent("rushdown", seed=3)
    obs = env.step(0)[0]
    steps = 1
    for _ in range(11):
        obs = env.step(bot.act(obs))[0]
        steps += 1
    sim = env.simulation
    rows = env.decisions
    mine = [r for r in rows if r[1] == 0]
    theirs = [r for r in rows if r[1] == 1]
    # 50 ms: 3 frames; 100 ms: 6 frames.
    assert len(mine) == steps and all(lands == decided + 3 for decided, _, _, lands in mine)
    assert theirs and all(lands == decided + 6 for decided, _, _, lands in theirs)
    assert [d for d, *_ in rows] == sorted(d for d, *_ in rows)
    path = tmp_path / "m.json"
    env.save_replay(str(path))
    replay = Replay.load(path)
    assert replay.meta["decisions"] == [list(r) for r in rows]
    frames = list(replay.frames(every=1))
    assert np.array_equal(frames[sim.frame], env.render())  # the GIF draws what the env draws
    gif = replay.to_gif(tmp_path / "m.gif", every=4, max_frames=10)
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_replay_with_a_bad_decision_log_names_the_row() -> None:
    env = StreetFighterEnv(clock="fixed", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0)
    replay = env.replay
    replay.meta["decisions"] = [[0, 0, 0, 0], [1, 3, 0, 2]]
    with pytest.raises(ValueError, match="replay meta 'decisions' row 1: player must be 0 or 1"):
        next(replay.frames())


def test_replay_without_a_decision_log_still_renders() -> None:
    env = StreetFighterEnv(clock="fixed")
    env.reset(seed=0)
    for _ in range(5):
        env.step(LP)
    replay = env.replay
    del replay.meta["decisions"]
    first = next(replay.frames(every=1))
    assert first.shape == (HEIGHT, WIDTH, 3)


def test_multi_env_logs_each_agents_decisions_and_renders_a_short_match() -> None:
    env = multi_env(
        characters=("kai", "brick"), clock="fixed", latency_ms={"player_0": 100.0, "player_1": 0.0},
        render_mode="rgb_array", show_hitboxes=True, max_frames=150,
    )  # fmt: skip
    env.reset(seed=0)
    bots = {"player_0": make_opponent("rushdown", seed=1), "player_1": make_opponent("turtle", seed=2)}
    distinct = set()
    for agent in env.agent_iter():
        _, _, term, trunc, _ = env.last()
        env.step(None if term or trunc else bots[agent].act(env.observe(agent)))
        if env.agents:
            img = env.render()
            assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
            distinct.add(img.tobytes())
    rows = env.decisions
    assert {lands - decided for decided, p, _, lands in rows if p == 0} == {6}
    assert {lands - decided for decided, p, _, lands in rows if p == 1} == {0}
    assert len(distinct) > 20


def test_gif_frames_share_one_palette_and_show_the_rendered_frames(tmp_path: Path) -> None:
    env = StreetFighterEnv(clock="fixed", latency_ms=30.0, opponent="rushdown")
    env.reset(seed=2)
    for _ in range(30):
        env.step(LP)
    replay = env.replay
    frames = list(replay.frames(every=4))[:8]
    snapped = [gif_frame(f) for f in frames]
    packed = np.concatenate(snapped).astype(np.int32)
    colours = np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2])
    assert len(colours) <= 256
    for f, s in zip(frames, snapped, strict=True):
        assert s.shape == f.shape and s.dtype == np.uint8
        assert np.abs(f.astype(int) - s).mean() < 2.0
    gif = replay.to_gif(tmp_path / "m.gif", every=4, max_frames=8)
    read = imageio.mimread(gif)
    assert len(read) == 8
    assert all(np.array_equal(r[..., :3], s) for r, s in zip(read, snapped, strict=True))
