"""Notable matches worth a look, and their replays.

* the *biggest upset*: the match whose single winner was rated furthest below the best-rated
  player it beat (Bradley–Terry Elo, so the upset is judged with hindsight of every match);
* the *closest match*: the decided match with the smallest score margin between its top two
  players (StreetFighter: the reward, i.e. damage balance; HFTBench: PnL).

Matches decided by forfeit are left out. StreetFighter replays are exported as GIFs through the
env's :meth:`~splitsecond.envs.streetfighter.Replay.to_gif`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notable:
    """A notable match.

    Attributes:
        kind: ``biggest upset`` or ``closest match``.
        key: the match key.
        env: the env's short name.
        seed: the match seed.
        players: participant names in seat order.
        winner: the winner's name.
        margin: the upset's Elo gap, or the score margin of the closest match.
        description: one sentence for the report.
        replay_path: the saved replay, if any.
        log_path: the saved episode log, if any.
    """

    kind: str
    key: str
    env: str
    seed: int
    players: tuple[str, ...]
    winner: str
    margin: float
    description: str
    replay_path: str | None
    log_path: str | None


def _decided(matches: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [m for m in matches if m["status"] == "done" and m["winner"] and m.get("outcome")]


def notable_matches(matches: Sequence[Mapping[str, Any]], elo: Mapping[str, float]) -> list[Notable]:
    """The biggest upset and the closest match among ``matches`` (rows of one env with outcomes)."""
    decided = _decided(matches)
    out: list[Notable] = []
    upsets = []
    for m in decided:
        others = [s["name"] for s in m["seats"] if s["name"] != m["winner"]]
        gap = max(elo.get(o, 0.0) for o in others) - elo.get(m["winner"], 0.0)
        upsets.append((gap, m))
    if upsets:
        gap, m = max(upsets, key=lambda x: x[0])
        if gap > 0:
            beaten = max((s["name"] for s in m["seats"] if s["name"] != m["winner"]), key=lambda o: elo[o])
            out.append(
                _notable(
                    "biggest upset",
                    m,
                    gap,
                    f"{m['winner']} (Elo {elo[m['winner']]:.0f}) beat {beaten} (Elo {elo[beaten]:.0f}), "
                    f"seed {m['seed']}",
                )
            )
    margins = []
    for m in decided:
        ranked = sorted(m["outcome"]["seats"], key=lambda s: -s["score"])
        margin = (
            ranked[0]["score"] - ranked[1]["score"] if m["env"] == "hftbench" else abs(ranked[0]["score"])
        )
        margins.append((margin, ranked[1]["name"], m))
    if margins:
        margin, runner_up, m = min(margins, key=lambda x: x[0])
        unit = "PnL margin of $" if m["env"] == "hftbench" else "reward margin of "
        field = f" in a market of {len(m['seats'])}" if m["env"] == "hftbench" else ""
        out.append(
            _notable(
                "closest match",
                m,
                margin,
                f"{m['winner']} beat {runner_up}{field} by a {unit}{margin:.3f}, seed {m['seed']}",
            )
        )
    return out


def _notable(kind: str, m: Mapping[str, Any], margin: float, text: str) -> Notable:
    o = m["outcome"]
    return Notable(
        kind=kind,
        key=m["key"],
        env=m["env"],
        seed=m["seed"],
        players=tuple(s["name"] for s in m["seats"]),
        winner=m["winner"],
        margin=float(margin),
        description=text,
        replay_path=o.get("replay_path"),
        log_path=o.get("log_path"),
    )


def export_gif(replay_path: str | Path, gif_path: str | Path, max_frames: int = 150) -> Path | None:
    """Write a StreetFighter replay as a GIF of at most ``max_frames`` frames; ``None`` on failure."""
    from splitsecond.envs.streetfighter import Replay

    try:
        replay = Replay.load(replay_path)
        every = max(2, -(-int(replay.final_frame) // max_frames))
        gif_path = Path(gif_path)
        gif_path.parent.mkdir(parents=True, exist_ok=True)
        return Path(replay.to_gif(gif_path, every=every, max_frames=max_frames))
    except Exception as exc:  # noqa: BLE001 - a missing replay must not stop the report
        logger.warning("could not export %s as a GIF: %s", replay_path, exc)
        return None
