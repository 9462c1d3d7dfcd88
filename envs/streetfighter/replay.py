"""Replays: a compact JSON log of a match that re-simulates it exactly, and GIF/MP4 export.

A replay is the match configuration plus every input change ``(frame, player, action)``; the
engine is deterministic, so feeding the same inputs on the same frames reproduces the match bit
for bit. The final state's digest is stored so :meth:`Replay.verify` can prove it::

    env.unwrapped.save_replay("match.json")
    replay = Replay.load("match.json")
    sim = replay.resimulate()          # same final state as the original
    replay.to_gif("match.gif")
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from splitsecond.envs.streetfighter.actions import validate_action
from splitsecond.envs.streetfighter.engine import MatchConfig, Simulation

logger = logging.getLogger(__name__)

FORMAT = "splitsecond.streetfighter.replay"
VERSION = 1


def state_digest(sim: Simulation) -> str:
    """SHA-256 of the simulation's full state (:meth:`Simulation.snapshot`)."""
    return hashlib.sha256(repr(sim.snapshot()).encode()).hexdigest()


@dataclass
class Replay:
    """A recorded match.

    Attributes:
        config: characters and rules.
        inputs: ``(frame, player, action)`` input changes, in order.
        final_frame: number of frames the match ran.
        seed: the env seed, for reference (the engine itself has no randomness).
        players: names of the two sides.
        meta: anything else (env id, opponent, clock ...).
        final_digest: :func:`state_digest` of the final state, if known.
        winner: 0, 1, ``None`` (draw or unfinished).
    """

    config: MatchConfig
    inputs: list[tuple[int, int, int]]
    final_frame: int
    seed: int | None = None
    players: tuple[str, str] = ("player_0", "player_1")
    meta: dict[str, Any] = field(default_factory=dict)
    final_digest: str | None = None
    winner: int | None = None

    @classmethod
    def from_simulation(
        cls,
        sim: Simulation,
        seed: int | None = None,
        players: tuple[str, str] = ("player_0", "player_1"),
        meta: dict[str, Any] | None = None,
    ) -> Replay:
        """Record ``sim`` as it stands now."""
        return cls(
            config=sim.config,
            inputs=list(sim.input_log),
            final_frame=sim.frame,
            seed=seed,
            players=players,
            meta=dict(meta or {}),
            final_digest=state_digest(sim),
            winner=sim.winner,
        )

    # ---- JSON --------------------------------------------------------------------------------

    def validate(self) -> None:
        """Check that the inputs can be replayed as recorded.

        Every input is ``(frame, player, action)`` with ``0 <= frame < final_frame``, player 0 or 1
        and a valid action, and frames never decrease (the engine logs them in order; an input
        that went back in time could never be applied, nor could any input after it).

        Raises:
            ValueError: naming the first bad input by its index.
        """
        if (
            not isinstance(self.final_frame, int)
            or isinstance(self.final_frame, bool)
            or self.final_frame < 0
        ):
            raise ValueError(f"replay final frame must be an int >= 0, got {self.final_frame!r}")
        previous = 0
        for k, entry in enumerate(self.inputs):
            if not isinstance(entry, tuple | list) or len(entry) != 3:
                raise ValueError(f"replay input #{k} must be (frame, player, action), got {entry!r}")
            frame, player, action = entry
            if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < self.final_frame:
                raise ValueError(
                    f"replay input #{k} {tuple(entry)}: frame must be an int >= 0 and below the final "
                    f"frame {self.final_frame} (inputs land before a frame is simulated)"
                )
            if frame < previous:
                raise ValueError(
                    f"replay input #{k} {tuple(entry)} goes back in time: frame {frame} comes after frame "
                    f"{previous}; input frames must never decrease"
                )
            if player not in (0, 1) or isinstance(player, bool):
                raise ValueError(f"replay input #{k} {tuple(entry)}: player must be 0 or 1")
            try:
                validate_action(action)
            except ValueError as exc:
                raise ValueError(f"replay input #{k} {tuple(entry)}: {exc}") from None
            previous = frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "config": {
                "characters": list(self.config.characters),
                "round_seconds": self.config.round_seconds,
                "rounds_to_win": self.config.rounds_to_win,
            },
            "players": list(self.players),
            "meta": self.meta,
            "inputs": [list(e) for e in self.inputs],
            "final": {"frame": self.final_frame, "digest": self.final_digest, "winner": self.winner},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Replay:
        """Parse :meth:`to_dict`'s output.

        Raises:
            ValueError: if it is not a replay of a known version.
        """
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(
                f"not a {FORMAT} v{VERSION} replay (format={data.get('format')!r}, version={data.get('version')!r})"
            )
        c = data["config"]
        config = MatchConfig(tuple(c["characters"]), int(c["round_seconds"]), int(c["rounds_to_win"]))
        try:
            inputs = [(int(f), int(p), int(a)) for f, p, a in data["inputs"]]
        except (TypeError, ValueError):
            raise ValueError(
                "replay inputs must be a list of [frame, player, action] integer triples"
            ) from None
        final = data["final"]
        replay = cls(
            config=config,
            inputs=inputs,
            final_frame=int(final["frame"]),
            seed=data.get("seed"),
            players=tuple(data.get("players", ("player_0", "player_1"))),
            meta=dict(data.get("meta", {})),
            final_digest=final.get("digest"),
            winner=final.get("winner"),
        )
        replay.validate()
        return replay

    def save(self, path: str | Path) -> None:
        """Write the replay as compact JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def load(cls, path: str | Path) -> Replay:
        """Read a replay written by :meth:`save`.

        Raises:
            ValueError: naming the file, when it is not valid JSON or not a valid replay.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON replay file ({exc})") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    # ---- re-simulation -----------------------------------------------------------------------

    def resimulate(
        self, until: int | None = None, on_frame: Callable[[Simulation], None] | None = None
    ) -> Simulation:
        """Run the match again from its inputs.

        Args:
            until: stop after this many frames (default: the recorded length).
            on_frame: called with the simulation before each frame is simulated, and once at the end.

        Raises:
            ValueError: for inputs that cannot be replayed (see :meth:`validate`).
        """
        self.validate()
        end = self.final_frame if until is None else until
        sim = Simulation(self.config)
        inputs = self.inputs
        i = 0
        n = len(inputs)
        while sim.frame < end:
            while i < n and inputs[i][0] == sim.frame:
                sim.set_input(inputs[i][1], inputs[i][2])
                i += 1
            if on_frame is not None:
                on_frame(sim)
            sim.step_frame()
        if on_frame is not None:
            on_frame(sim)
        return sim

    def verify(self) -> bool:
        """Whether re-simulating reproduces the recorded final state exactly."""
        if self.final_digest is None:
            raise ValueError("this replay has no recorded final digest")
        return state_digest(self.resimulate()) == self.final_digest

    # ---- video -------------------------------------------------------------------------------

    def frames(self, every: int = 2, show_hitboxes: bool = False) -> Iterator[np.ndarray]:
        """Rendered RGB frames, one every ``every`` simulated frames."""
        from splitsecond.envs.streetfighter.render import render_frame
        from splitsecond.envs.streetfighter.render_decisions import decision_log

        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.validate()
        logged = self.meta.get("decisions")
        decisions = None if logged is None else decision_log(logged, "replay meta 'decisions'")
        sim = Simulation(self.config)
        inputs, i, n = self.inputs, 0, len(self.inputs)
        while True:
            while i < n and inputs[i][0] == sim.frame:
                sim.set_input(inputs[i][1], inputs[i][2])
                i += 1
            if sim.frame % every == 0 or sim.frame == self.final_frame:
                yield render_frame(sim, show_hitboxes=show_hitboxes, decisions=decisions)
            if sim.frame >= self.final_frame:
                return
            sim.step_frame()

    def to_gif(
        self, path: str | Path, every: int = 2, max_frames: int | None = None, show_hitboxes: bool = False
    ) -> Path:
        """Write an animated GIF (``60 / every`` fps, one shared palette: see :mod:`.render_gif`) and return its path."""
        import imageio.v2 as imageio

        from splitsecond.envs.streetfighter.render_gif import gif_frame

        path = Path(path)
        fps = 60 / every
        with imageio.get_writer(path, mode="I", duration=1000 / fps, loop=0) as writer:
            for k, frame in enumerate(self.frames(every, show_hitboxes)):
                if max_frames is not None and k >= max_frames:
                    break
                writer.append_data(gif_frame(frame))
        return path

    def to_mp4(
        self, path: str | Path, every: int = 1, max_frames: int | None = None, show_hitboxes: bool = False
    ) -> Path:
        """Write an MP4 video (``60 / every`` fps); needs the ``imageio-ffmpeg`` package.

        Raises:
            RuntimeError: if ``imageio-ffmpeg`` is not installed.
        """
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                "use Replay.to_gif() otherwise"
            ) from None
        import imageio.v2 as imageio

        path = Path(path)
        with imageio.get_writer(path, fps=60 / every, codec="libx264", macro_block_size=8) as writer:
            for k, frame in enumerate(self.frames(every, show_hitboxes)):
                if max_frames is not None and k >= max_frames:
                    break
                writer.append_data(frame)
        return path
