"""``splitsecond cache stats|list|clear`` on a real SQLite store."""

import json

from typer.testing import CliRunner

from splitsecond.cache import Outcome, PlanCache, PlannerReply, RuleKeywordExtractor, Scope, Usage
from splitsecond.cache.matcher import MatcherConfig
from splitsecond.cli import _load_commands, app


def test_cache_cli_stats_list_clear(tmp_path):
    db = tmp_path / "plans.db"
    cache = PlanCache(
        db, keywords=RuleKeywordExtractor(default="approach"), matcher=MatcherConfig(semantic=False)
    )
    scope = Scope.of("env", "model", ["a"], "p")
    r = cache.plan(scope, "far", lambda: PlannerReply("Walk forward now.", Usage(prompt_tokens=50)))
    cache.report(r.handle, Outcome(reward=1.0))
    cache.plan(scope, "far", lambda: PlannerReply("unused", Usage()))
    cache.close()

    _load_commands()
    runner = CliRunner()
    stats = runner.invoke(app, ["cache", "stats", "--db", str(db), "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    assert data["hits"] == 1 and data["misses"] == 1 and data["inserts"] == 1 and data["entries"] == 1
    assert data["hit_rate"] == 0.5
    table = runner.invoke(app, ["cache", "stats", "--db", str(db)])
    assert table.exit_code == 0 and "hit_rate" in table.output

    listed = runner.invoke(app, ["cache", "list", "--db", str(db), "--json"])
    assert listed.exit_code == 0
    (row,) = json.loads(listed.output)
    assert row["keyword"] == "approach" and row["template"] == "Walk forward now." and row["hits"] == 1

    assert runner.invoke(app, ["cache", "clear", "--db", str(db)], input="n\n").exit_code != 0
    cleared = runner.invoke(app, ["cache", "clear", "--db", str(db), "--yes"])
    assert cleared.exit_code == 0 and "removed 1 templates" in cleared.output
    empty = json.loads(runner.invoke(app, ["cache", "stats", "--db", str(db), "--json"]).output)
    assert empty["entries"] == 0 and empty["hits"] == 0

    bad = runner.invoke(app, ["cache", "stats", "--db", str(tmp_path)])
    assert bad.exit_code != 0 and "directory" in bad.output


def test_cache_cli_reading_creates_no_database(tmp_path, monkeypatch):
    db = tmp_path / "sub" / "plans.db"
    monkeypatch.setenv("SPLITSECOND_CACHE_DB", str(db))
    _load_commands()
    runner = CliRunner()
    for args in (
        ["cache", "stats"],
        ["cache", "list"],
        ["cache", "clear", "--yes"],
        ["cache", "stats", "--db", str(db)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "no cache yet" in result.output, (args, result.output)
    stats = runner.invoke(app, ["cache", "stats", "--json"])
    assert (
        stats.exit_code == 0 and json.loads(stats.stdout)["entries"] == 0 and "no cache yet" in stats.stderr
    )
    assert runner.invoke(app, ["cache", "list", "--json"]).stdout.strip() == "[]"
    assert not db.exists() and not db.parent.exists()
