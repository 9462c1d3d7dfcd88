"""What the CLI prints: plain help metavars, uncut tables on a pipe, `play`'s defaults and refusals."""

from __future__ import annotations

import re
import socket

from typer.testing import CliRunner

from splitsecond.cache.stores import PlanEntry, SQLiteStore
from splitsecond.cli import _load_commands, app

_load_commands()
runner = CliRunner()
TYPER_METAVAR = re.compile(r"<(str|bool|int|float|Path|list\[\w+\])>")


def _command_paths() -> list[list[str]]:
    import typer.main

    paths: list[list[str]] = []

    def walk(command, prefix):
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_help_screens_show_no_typer_type_metavars():
    paths = _command_paths()
    assert ["serve"] in paths and ["cache", "stats"] in paths and len(paths) > 12
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        assert not TYPER_METAVAR.search(result.output), (path, TYPER_METAVAR.findall(result.output))
    serve = runner.invoke(app, ["serve", "--help"], terminal_width=200).output
    assert re.search(r"--port\s+INTEGER", serve) and re.search(r"--public-metrics\s+Serve", serve)


def test_tables_are_not_cut_on_a_pipe(tmp_path):
    long_template = "Walk forward, block high, then punish with the heavy kick. " * 3
    store = SQLiteStore(tmp_path / "plans.db")
    store.put(
        PlanEntry(scope="smollm2-135m/StreetFighter-v0", keyword="approach", template=long_template.strip())
    )
    store.close()
    result = runner.invoke(app, ["cache", "list", "--db", str(tmp_path / "plans.db")])
    assert result.exit_code == 0
    assert long_template.strip() in result.output and "smollm2-135m/StreetFighter-v0" in result.output


def test_play_gif_without_out_writes_a_fresh_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["play", "-a", "rushdown", "-o", "zoner", "--round-seconds", "2", "--max-decisions", "8", "--gif"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("play-") for f in folders)
    for folder in folders:
        assert (folder / "replay.gif").stat().st_size > 0 and (folder / "episode.jsonl").exists()
    assert f"runs/{folders[0].name}/" in first.output and "replay.gif" in first.output
    assert "rushdown (player_0)" in first.output  # the result table, uncut


def test_play_refuses_an_unreachable_model_endpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api_base = f"http://127.0.0.1:{port}/v1"
    result = runner.invoke(app, ["play", "-a", f"openai/smollm2-135m@{api_base}", "-o", "zoner", "--gif"])
    assert result.exit_code == 1
    assert f"the model endpoint {api_base} does not answer" in result.output
    assert not (tmp_path / "runs").exists()  # stopped before anything was written
