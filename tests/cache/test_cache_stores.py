"""Both stores (SQLite and a real Redis) behind the same contract, including two processes
writing at once."""

import json
import subprocess
import sys

import pytest

from splitsecond.cache.stores import PlanEntry, SQLiteStore, open_store


def _entry(keyword, scope="s", **kw):
    return PlanEntry(scope=scope, keyword=keyword, template=f"plan for {keyword}", **kw)


def test_put_get_replace_and_scope(store):
    store.put(_entry("approach", created_at=1.0, last_used=1.0, embedding=[0.5, 0.5], meta={"a": 1}))
    got = store.get("s", "approach")
    assert got is not None and got.template == "plan for approach"
    assert got.embedding == [0.5, 0.5] and got.meta == {"a": 1}
    assert store.get("other-scope", "approach") is None
    assert store.get("s", "retreat") is None
    replacement = _entry("approach", created_at=2.0, last_used=2.0)
    replacement.template = "better plan"
    store.put(replacement)
    assert store.count() == 1
    assert store.get("s", "approach").template == "better plan"
    assert store.get_by_id(got.id) is None and store.get_by_id(replacement.id) is not None
    store.put(_entry("retreat", scope="t"))
    assert [e.keyword for e in store.candidates("s")] == ["approach"]


def test_touch_adjust_delete(store):
    e = _entry("defend", created_at=1.0, last_used=1.0)
    store.put(e)
    store.touch(e.id, 5.0)
    store.touch(e.id, 6.0)
    got = store.get_by_id(e.id)
    assert got.hits == 2 and got.last_used == 6.0
    updated = store.adjust(e.id, -0.25, losses=1)
    assert updated.score == pytest.approx(0.75) and updated.losses == 1
    assert store.adjust(e.id, 0.5, wins=2).wins == 2
    assert store.delete(e.id) is True
    assert store.delete(e.id) is False
    assert store.adjust(e.id, 1.0) is None
    assert store.get("s", "defend") is None


def test_expire_and_lru_eviction(store):
    for i in range(5):
        store.put(_entry(f"k{i}", created_at=float(i), last_used=float(10 + i)))
    store.touch(store.get("s", "k0").id, 100.0)  # k0 becomes the most recently used
    assert store.evict_lru(3) == 2
    assert sorted(e.keyword for e in store.entries()) == ["k0", "k3", "k4"]
    assert [e.keyword for e in store.entries()][0] == "k0"
    assert store.expire(cutoff=3.0) == 2  # k0 (created 0) and k3 (created 3)
    assert [e.keyword for e in store.entries()] == ["k4"]
    with pytest.raises(ValueError, match="max_entries"):
        store.evict_lru(-1)


def test_counters_and_clear(store):
    store.incr({"hits": 1, "tokens_saved": 2.5})
    store.incr({"hits": 2, "misses": 0})
    assert store.counters() == {"hits": 3.0, "tokens_saved": 2.5}
    store.put(_entry("x"))
    assert store.clear() == 1
    assert store.count() == 0 and store.counters() == {}


_CHILD = """
import json, sys
spec = json.loads(sys.argv[1]); tag = sys.argv[2]
if spec[0] == "sqlite":
    from splitsecond.cache.stores import SQLiteStore
    store = SQLiteStore(spec[1])
else:
    from splitsecond.cache.stores.redis import RedisStore
    store = RedisStore(spec[1][0], namespace=spec[1][1])
from splitsecond.cache.stores import PlanEntry
for i in range(150):
    store.put(PlanEntry(scope="s", keyword=f"{tag}-{i}", template="t", created_at=i, last_used=i))
    store.incr({"writes": 1})
    if i % 10 == 0:
        store.adjust(store.get("s", f"{tag}-0").id, 1.0)
print("done")
"""


def test_two_processes_writing_at_once_lose_nothing(store_spec, store):
    args = [sys.executable, "-c", _CHILD, json.dumps(store_spec)]
    procs = [subprocess.Popen([*args, tag], stdout=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert store.count() == 300
    assert store.counters()["writes"] == 300
    for tag in ("a", "b"):
        assert store.get("s", f"{tag}-0").score == pytest.approx(1.0 + 15)
        assert {e.keyword for e in store.candidates("s") if e.keyword.startswith(tag)} == {
            f"{tag}-{i}" for i in range(150)
        }


def test_sqlite_is_in_wal_mode_and_rejects_a_directory(tmp_path):
    s = SQLiteStore(tmp_path / "sub" / "p.db")
    assert s._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    with pytest.raises(ValueError, match="directory"):
        SQLiteStore(tmp_path)
    with pytest.raises(TypeError, match="redis:// URL"):
        open_store(42)
