"""The StreetFighter opponent ladder: a round robin of the built-in fighters, rated by Bradley–Terry.

Run::

    .venv/bin/python -m splitsecond.benchmarks.streetfighter_ladder [--seeds 3] [--bootstrap 200]
    .venv/bin/python -m splitsecond.benchmarks.streetfighter_ladder --quick

Every pair of fighters in :data:`LADDER` meets on both sides, with every ordered pair of
characters and several seeds, each fighter deciding at its own declared reaction time (the
multi-agent env, explicit clock: a decision lands ``reaction_ms`` after its observation). The
matches are rated with the leaderboard's Bradley–Terry model
(:func:`splitsecond.benchmarks.leaderboard.ratings.rate`, 95 % bootstrap intervals over matches).
The report says whether the ratings follow the ladder's order, whether neighbours' intervals
overlap, which fighters beat every other one head to head (``wins_on_time`` counts the wins
decided by the round timer), and how often matches end in a draw by time-out. A fighter that
beats every other one is played again at a human reaction time (:data:`SLOWED_REACTION_MS`): if
it still won everything, that would be a dominant strategy (a flaw of the rules), not a
difference in reaction time.

The default run (7 fighters, 9 character pairs, 3 seeds, both sides: 1 134 matches, plus the
slowed check) takes about 100 s on one core.

Writes ``benchmarks/results/streetfighter_ladder.json`` (the ``--quick`` variant writes nothing
unless ``--out`` is given) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard.ratings import Contest, rate
from splitsecond.benchmarks.machine import machine_info
from splitsecond.envs.streetfighter.engine import OVER
from splitsecond.envs.streetfighter.frame_data import CHARACTER_NAMES
from splitsecond.envs.streetfighter.multi_env import AGENTS, StreetFighterMultiEnv
from splitsecond.envs.streetfighter.opponents import OPPONENTS, make_opponent
from splitsecond.envs.timing import TimedAction

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "streetfighter_ladder.json"
LADDER: tuple[str, ...] = tuple(OPPONENTS)
"""The built-in fighters, weakest to strongest (the registry's order): the order the ratings are checked against."""
SLOWED_REACTION_MS = 200.0
"""A fighter that beats every other one is played again at this reaction time (a human's)."""
CHARACTER_PAIRS: tuple[tuple[str, str], ...] = tuple(itertools.product(CHARACTER_NAMES, repeat=2))
"""Every ordered pair of characters (player 0's, player 1's)."""
QUICK_LADDER: tuple[str, ...] = ("masher", "turtle", "zoner", "punisher")
"""Clearly separated rungs for the test-sized run."""
RESULT_FIELDS = ("players", "characters", "seed", "winner", "rounds", "frames")
"""The columns of each row of the JSON's ``results``."""
QUICK_CHARACTER_PAIRS: tuple[tuple[str, str], ...] = (("kai", "kai"), ("zara", "brick"), ("brick", "zara"))


@dataclass(frozen=True)
class MatchResult:
    """One match of the round robin.

    Attributes:
        players: the fighters on side 0 and side 1.
        characters: their characters.
        seed: the match seed (fighters' random choices).
        winner: 0, 1 or ``None`` (draw).
        rounds: how each round ended, ``"ko"`` or ``"time"``.
        frames: frames the match lasted.
    """

    players: tuple[str, str]
    characters: tuple[str, str]
    seed: int
    winner: int | None
    rounds: tuple[str, ...]
    frames: int

    @property
    def double_timeout_draw(self) -> bool:
        """A draw in which no round ended by KO."""
        return self.winner is None and all(r == "time" for r in self.rounds)


def play_match(
    fighters: tuple[str, str],
    characters: tuple[str, str],
    seed: int,
    round_seconds: int = 99,
    rounds_to_win: int = 2,
    reaction_ms: dict[str, float] | None = None,
) -> MatchResult:
    """Play one match between two built-in fighters, each at its declared reaction time.

    ``reaction_ms`` overrides the reaction time of the fighters it names.
    """
    reaction_ms = reaction_ms or {}
    env = StreetFighterMultiEnv(
        clock="explicit",
        characters=characters,
        round_seconds=round_seconds,
        rounds_to_win=rounds_to_win,
        text=False,
    )
    env.reset(seed=seed)
    players = {
        agent: make_opponent(name, seed=seed * 2 + side, reaction_ms=reaction_ms.get(name))
        for side, (agent, name) in enumerate(zip(AGENTS, fighters, strict=True))
    }
    sim = env.simulation
    while sim.phase != OVER:
        agent = env.agent_selection
        me = players[agent]
        env.step(TimedAction(me.act(env.observe(agent)), me.reaction_ms))
    rounds = tuple(e[3].split(",")[0] for e in sim.events if e[1] == "round_end")
    return MatchResult(fighters, characters, seed, sim.winner, rounds, sim.frame)


def round_robin(
    names: Sequence[str] = LADDER,
    seeds: Sequence[int] = (0, 1),
    character_pairs: Sequence[tuple[str, str]] = CHARACTER_PAIRS,
    round_seconds: int = 99,
    rounds_to_win: int = 2,
    progress: Callable[[int, int], None] | None = None,
    reaction_ms: dict[str, float] | None = None,
    only: str | None = None,
) -> list[MatchResult]:
    """Every pair of ``names`` on both sides, for every character pair and seed.

    Args:
        reaction_ms: reaction-time overrides by fighter name.
        only: play only the pairs that include this fighter.
    """
    jobs = [
        (pair, chars, seed)
        for a, b in itertools.combinations(names, 2)
        if only is None or only in (a, b)
        for pair in ((a, b), (b, a))
        for chars in character_pairs
        for seed in seeds
    ]
    results = []
    for k, (pair, chars, seed) in enumerate(jobs):
        results.append(play_match(pair, chars, seed, round_seconds, rounds_to_win, reaction_ms))
        if progress is not None:
            progress(k + 1, len(jobs))
    return results


def contests(results: Sequence[MatchResult]) -> list[Contest]:
    """The matches as rating contests (a draw ranks both players equal)."""
    out = []
    for r in results:
        ranks = (0, 0) if r.winner is None else (0, 1) if r.winner == 0 else (1, 0)
        out.append(Contest(r.players, ranks))
    return out


def head_to_head(
    results: Sequence[MatchResult], names: Sequence[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """``h2h[a][b]``: a's wins, draws, losses against b, and a's wins by time-out."""
    h2h = {
        a: {b: {"wins": 0, "draws": 0, "losses": 0, "wins_on_time": 0} for b in names if b != a}
        for a in names
    }
    for r in results:
        for side in (0, 1):
            me, op = r.players[side], r.players[1 - side]
            cell = h2h[me][op]
            if r.winner is None:
                cell["draws"] += 1
            elif r.winner == side:
                cell["wins"] += 1
                cell["wins_on_time"] += r.rounds[-1] == "time"
            else:
                cell["losses"] += 1
    return h2h


def score(cell: dict[str, int]) -> float:
    """Share of the games won (draws count half)."""
    n = cell["wins"] + cell["draws"] + cell["losses"]
    return (cell["wins"] + 0.5 * cell["draws"]) / n if n else 0.5


def ladder_report(
    results: Sequence[MatchResult], names: Sequence[str], bootstrap: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Ratings, head-to-head scores and the ladder checks of a round robin (JSON-ready)."""
    names = list(names)
    ratings = rate(contests(results), names, bootstrap=bootstrap, prior_draws=1.0, seed=seed)
    h2h = head_to_head(results, names)
    neighbours = []
    for lo, hi in itertools.pairwise(names):
        a, b = ratings[lo], ratings[hi]
        neighbours.append(
            {
                "lower": lo,
                "upper": hi,
                "elo_gap": round(b.elo - a.elo, 1),
                "upper_score": round(score(h2h[hi][lo]), 3),
                "intervals_overlap": a.elo_ci[1] >= b.elo_ci[0],
            }
        )
    beats_all = [a for a in names if all(score(h2h[a][b]) > 0.5 for b in names if b != a)]
    elos = [ratings[n].elo for n in names]
    n_rounds = sum(len(r.rounds) for r in results)
    return {
        "ladder": names,
        "matches": len(results),
        "ratings": {
            n: {
                "elo": round(ratings[n].elo, 1),
                "elo_ci": [round(ratings[n].elo_ci[0], 1), round(ratings[n].elo_ci[1], 1)],
                "games": ratings[n].games,
                "score": round(
                    sum(h2h[n][o]["wins"] + 0.5 * h2h[n][o]["draws"] for o in h2h[n])
                    / max(1, sum(sum(h2h[n][o][k] for k in ("wins", "draws", "losses")) for o in h2h[n])),
                    3,
                ),
            }
            for n in names
        },
        "head_to_head": h2h,
        "order_holds": all(x < y for x, y in itertools.pairwise(elos)),
        "neighbours": neighbours,
        "neighbours_separated": not any(n["intervals_overlap"] for n in neighbours),
        "beats_all": beats_all,
        "draws": sum(r.winner is None for r in results),
        "double_timeout_draws": sum(r.double_timeout_draw for r in results),
        "timeout_round_share": round(
            sum(x == "time" for r in results for x in r.rounds) / max(1, n_rounds), 3
        ),
    }


def slowed_check(
    fighter: str,
    names: Sequence[str],
    seeds: Sequence[int],
    character_pairs: Sequence[tuple[str, str]],
    reaction_ms: float = SLOWED_REACTION_MS,
) -> dict[str, Any]:
    """Replay ``fighter``'s pairings with it slowed to ``reaction_ms``: does it still beat everyone?

    A fighter that beats every other one only because it reacts faster is the benchmark working
    (reaction time is what it measures); one that still beats everyone at a human reaction time
    would be a dominant strategy, i.e. a flaw of the game's rules.
    """
    results = round_robin(names, seeds, character_pairs, reaction_ms={fighter: reaction_ms}, only=fighter)
    h2h = head_to_head(results, names)[fighter]
    scores = {op: round(score(cell), 3) for op, cell in h2h.items()}
    return {
        "fighter": fighter,
        "reaction_ms": reaction_ms,
        "scores": scores,
        "still_beats_all": all(v > 0.5 for v in scores.values()),
    }


def quick_ladder(bootstrap: int = 30) -> dict[str, Any]:
    """A test-sized run: :data:`QUICK_LADDER`, one seed, three character pairs."""
    results = round_robin(QUICK_LADDER, seeds=(0,), character_pairs=QUICK_CHARACTER_PAIRS)
    return ladder_report(results, QUICK_LADDER, bootstrap=bootstrap)


def run(
    names: Sequence[str] = LADDER,
    seeds: Sequence[int] = (0, 1, 2),
    character_pairs: Sequence[tuple[str, str]] = CHARACTER_PAIRS,
    bootstrap: int = 200,
) -> dict[str, Any]:
    """The full round robin and its report, with the settings and the machine."""
    from rich.progress import Progress

    t0 = time.perf_counter()
    with Progress() as bar:
        task = bar.add_task("round robin", total=None)
        results = round_robin(
            names, seeds, character_pairs, progress=lambda k, n: bar.update(task, completed=k, total=n)
        )
    report = ladder_report(results, names, bootstrap=bootstrap)
    report["slowed"] = [slowed_check(f, names, seeds, character_pairs) for f in report["beats_all"]]
    report["dominant_strategy"] = [c["fighter"] for c in report["slowed"] if c["still_beats_all"]]
    return {
        "benchmark": "streetfighter_ladder",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "seeds": list(seeds),
            "character_pairs": [list(p) for p in character_pairs],
            "round_seconds": 99,
            "rounds_to_win": 2,
            "reaction_ms": {n: make_opponent(n).reaction_ms for n in names},
            "bootstrap": bootstrap,
        },
        "wall_s": round(time.perf_counter() - t0, 1),
        **report,
        "result_fields": list(RESULT_FIELDS),
        "results": [[getattr(r, f) for f in RESULT_FIELDS] for r in results],
    }


def to_json(report: dict[str, Any]) -> str:
    """The report as indented JSON, one line per match result."""
    body = {k: v for k, v in report.items() if k != "results"}
    text = json.dumps(body, indent=1)
    if "results" not in report:
        return text
    rows = ",\n  ".join(json.dumps(r, separators=(",", ":")) for r in report["results"])
    return text[:-2] + f',\n "results": [\n  {rows}\n ]\n}}'


def print_report(report: dict[str, Any]) -> None:
    """The ratings and checks as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    names = report["ladder"]
    table = Table(title=f"StreetFighter ladder: {report['matches']} matches")
    table.add_column("fighter")
    table.add_column("reaction", justify="right")
    table.add_column("Elo", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("score", justify="right")
    for n in names:
        r = report["ratings"][n]
        ms = report.get("settings", {}).get("reaction_ms", {}).get(n, make_opponent(n).reaction_ms)
        table.add_row(n, f"{ms:.0f} ms", f"{r['elo']:.0f}", f"{r['elo_ci'][0]:.0f} .. {r['elo_ci'][1]:.0f}",
                      f"{100 * r['score']:.0f}%")  # fmt: skip
    console.print(table)
    grid = Table(title="head to head: row's score against column (draws count half)")
    grid.add_column("")
    for n in names:
        grid.add_column(n[:8], justify="right")
    for a in names:
        grid.add_row(
            a, *("-" if a == b else f"{100 * score(report['head_to_head'][a][b]):.0f}" for b in names)
        )
    console.print(grid)
    for nb in report["neighbours"]:
        console.print(
            f"{nb['lower']} < {nb['upper']}: Elo gap {nb['elo_gap']:.0f}, upper scores "
            f"{100 * nb['upper_score']:.0f}%, intervals {'OVERLAP' if nb['intervals_overlap'] else 'separate'}"
        )
    console.print(
        f"order holds: {report['order_holds']}; neighbours separated: {report['neighbours_separated']}; "
        f"beats every other fighter: {', '.join(report['beats_all']) or 'none'}; draws {report['draws']} "
        f"({report['double_timeout_draws']} by double time-out); rounds ending on time: "
        f"{100 * report['timeout_round_share']:.0f}%"
    )
    for check in report.get("slowed", []):
        scores = ", ".join(f"{op} {100 * v:.0f}%" for op, v in check["scores"].items())
        console.print(
            f"{check['fighter']} slowed to {check['reaction_ms']:.0f} ms scores: {scores}; still beats every "
            f"fighter: {check['still_beats_all']}"
        )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per pairing (default 3)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--quick", action="store_true", help="the test-sized run (3 fighters, 1 seed)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.quick:
        report = quick_ladder(bootstrap=args.bootstrap)
        out = args.out
    else:
        report = run(seeds=tuple(range(args.seeds)), bootstrap=args.bootstrap)
        out = args.out or RESULTS
    print_report(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_json(report))
        logger.info("wrote %s", out)


if __name__ == "__main__":
    main()
