"""The shared store: Redis, for many workers on many machines using one plan cache.

Layout under a namespace ``NS`` (default ``splitsecond:apc``):

=========================  ==========================================================
``NS:e:<id>``              hash: the entry's fields (embedding and meta as JSON)
``NS:k:<scope>\\0<kw>``     string: the id filed under ``(scope, keyword)``
``NS:s:<scope>``           set: the ids of a scope (semantic candidates)
``NS:lru``                 sorted set: id by last use (LRU eviction)
``NS:created``             sorted set: id by creation time (TTL)
``NS:counters``            hash: the cache's metrics
=========================  ==========================================================

Writes that touch several keys run as Lua scripts, so they are atomic for every client. Needs the
``redis`` Python client (``pip install redis``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from splitsecond.cache.stores.base import PlanEntry

_PUT = """
local ns, id, scope, kw = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local kkey = ns .. ':k:' .. scope .. '\\0' .. kw
local old = redis.call('GET', kkey)
if old and old ~= id then
  redis.call('DEL', ns .. ':e:' .. old)
  redis.call('SREM', ns .. ':s:' .. scope, old)
  redis.call('ZREM', ns .. ':lru', old)
  redis.call('ZREM', ns .. ':created', old)
end
redis.call('HSET', ns .. ':e:' .. id, 'scope', scope, 'keyword', kw, 'template', ARGV[5],
  'embedding', ARGV[6], 'score', ARGV[7], 'hits', ARGV[8], 'wins', ARGV[9], 'losses', ARGV[10],
  'created_at', ARGV[11], 'last_used', ARGV[12], 'meta', ARGV[13])
redis.call('SET', kkey, id)
redis.call('SADD', ns .. ':s:' .. scope, id)
redis.call('ZADD', ns .. ':lru', ARGV[12], id)
redis.call('ZADD', ns .. ':created', ARGV[11], id)
return 1
"""

_DELETE = """
local ns, id = ARGV[1], ARGV[2]
local ekey = ns .. ':e:' .. id
local f = redis.call('HMGET', ekey, 'scope', 'keyword')
redis.call('ZREM', ns .. ':lru', id)
redis.call('ZREM', ns .. ':created', id)
if not f[1] then return 0 end
local kkey = ns .. ':k:' .. f[1] .. '\\0' .. f[2]
if redis.call('GET', kkey) == id then redis.call('DEL', kkey) end
redis.call('SREM', ns .. ':s:' .. f[1], id)
redis.call('DEL', ekey)
return 1
"""

_ADJUST = """
local ekey = ARGV[1] .. ':e:' .. ARGV[2]
if redis.call('EXISTS', ekey) == 0 then return 0 end
redis.call('HINCRBYFLOAT', ekey, 'score', ARGV[3])
redis.call('HINCRBY', ekey, 'wins', ARGV[4])
redis.call('HINCRBY', ekey, 'losses', ARGV[5])
return 1
"""

_TOUCH = """
local ns, id = ARGV[1], ARGV[2]
local ekey = ns .. ':e:' .. id
if redis.call('EXISTS', ekey) == 0 then return 0 end
redis.call('HINCRBY', ekey, 'hits', 1)
redis.call('HSET', ekey, 'last_used', ARGV[3])
redis.call('ZADD', ns .. ':lru', ARGV[3], id)
return 1
"""


def _entry(entry_id: str, h: Mapping[str, str]) -> PlanEntry:
    return PlanEntry(
        id=entry_id,
        scope=h["scope"],
        keyword=h["keyword"],
        template=h["template"],
        embedding=json.loads(h["embedding"]) if h.get("embedding") else None,
        score=float(h["score"]),
        hits=int(h["hits"]),
        wins=int(h["wins"]),
        losses=int(h["losses"]),
        created_at=float(h["created_at"]),
        last_used=float(h["last_used"]),
        meta=json.loads(h.get("meta") or "{}"),
    )


class RedisStore:
    """A :class:`~splitsecond.cache.stores.base.PlanStore` in Redis (see the module docstring).

    Args:
        url: the Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        namespace: prefix of every key, so several caches can share one Redis.
        client: an existing ``redis.Redis`` client (``decode_responses=True``) instead of ``url``.
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", namespace: str = "splitsecond:apc", client: Any = None
    ) -> None:
        if not namespace or ":" in namespace[-1:]:
            raise ValueError(f"namespace must be non-empty and not end in ':', got {namespace!r}")
        if client is None:
            try:
                import redis
            except ModuleNotFoundError as exc:
                raise RuntimeError("RedisStore needs the redis client: pip install redis") from exc
            client = redis.Redis.from_url(url, decode_responses=True)
        self.url = url
        self.ns = namespace
        self.r = client
        self._put = self.r.register_script(_PUT)
        self._delete = self.r.register_script(_DELETE)
        self._adjust = self.r.register_script(_ADJUST)
        self._touch = self.r.register_script(_TOUCH)

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.ns!r})"

    def _kkey(self, scope: str, keyword: str) -> str:
        return f"{self.ns}:k:{scope}\0{keyword}"

    def _load(self, ids: list[str]) -> list[PlanEntry]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for entry_id in ids:
            pipe.hgetall(f"{self.ns}:e:{entry_id}")
        return [_entry(i, h) for i, h in zip(ids, pipe.execute(), strict=True) if h]

    # ------------------------------------------------------------------ reads
    def get(self, scope: str, keyword: str) -> PlanEntry | None:
        """The entry under ``(scope, keyword)``, or ``None``."""
        entry_id = self.r.get(self._kkey(scope, keyword))
        return self.get_by_id(entry_id) if entry_id else None

    def get_by_id(self, entry_id: str) -> PlanEntry | None:
        """The entry with ``entry_id``, or ``None``."""
        found = self._load([entry_id])
        return found[0] if found else None

    def candidates(self, scope: str) -> list[PlanEntry]:
        """Every entry of ``scope``."""
        return self._load(sorted(self.r.smembers(f"{self.ns}:s:{scope}")))

    def entries(self) -> list[PlanEntry]:
        """Every entry, most recently used first."""
        return self._load(list(self.r.zrevrange(f"{self.ns}:lru", 0, -1)))

    def count(self) -> int:
        """How many entries."""
        return int(self.r.zcard(f"{self.ns}:lru"))

    def counters(self) -> dict[str, float]:
        """Every named counter."""
        return {k: float(v) for k, v in self.r.hgetall(f"{self.ns}:counters").items()}

    # ------------------------------------------------------------------ writes
    def put(self, entry: PlanEntry) -> None:
        """Write ``entry``, replacing any entry under the same ``(scope, keyword)``."""
        self._put(
            args=[
                self.ns,
                entry.id,
                entry.scope,
                entry.keyword,
                entry.template,
                json.dumps(entry.embedding) if entry.embedding is not None else "",
                repr(float(entry.score)),
                int(entry.hits),
                int(entry.wins),
                int(entry.losses),
                repr(float(entry.created_at)),
                repr(float(entry.last_used)),
                json.dumps(entry.meta),
            ]
        )

    def touch(self, entry_id: str, now: float) -> None:
        """``hits + 1`` and ``last_used = now``."""
        self._touch(args=[self.ns, entry_id, repr(float(now))])

    def adjust(self, entry_id: str, score_delta: float, wins: int = 0, losses: int = 0) -> PlanEntry | None:
        """Add to score, wins and losses atomically; the updated entry, or ``None`` if it is gone."""
        if not self._adjust(args=[self.ns, entry_id, repr(float(score_delta)), int(wins), int(losses)]):
            return None
        return self.get_by_id(entry_id)

    def delete(self, entry_id: str) -> bool:
        """Remove an entry; whether it existed."""
        return bool(self._delete(args=[self.ns, entry_id]))

    def expire(self, cutoff: float) -> int:
        """Remove entries created at or before ``cutoff``."""
        ids = self.r.zrangebyscore(f"{self.ns}:created", "-inf", repr(float(cutoff)))
        return sum(self.delete(i) for i in ids)

    def evict_lru(self, max_entries: int) -> int:
        """Remove the least recently used entries beyond ``max_entries``."""
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        extra = self.count() - max_entries
        if extra <= 0:
            return 0
        return sum(self.delete(i) for i in self.r.zrange(f"{self.ns}:lru", 0, extra - 1))

    def clear(self) -> int:
        """Remove every entry and counter of this namespace."""
        n = self.count()
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.ns) + ":*"  # the namespace taken literally
        keys = list(self.r.scan_iter(match=pattern, count=500))
        for i in range(0, len(keys), 500):
            self.r.delete(*keys[i : i + 500])
        return n

    def incr(self, counters: Mapping[str, float]) -> None:
        """Add to named counters atomically."""
        items = [(str(k), float(v)) for k, v in counters.items() if v]
        if not items:
            return
        pipe = self.r.pipeline(transaction=True)
        for name, value in items:
            pipe.hincrbyfloat(f"{self.ns}:counters", name, value)
        pipe.execute()

    def close(self) -> None:
        """Close the client's connections."""
        self.r.close()
