"""Periodic jobs as their schedulers publish them: hash ``{ns}:cronentries`` (name ->
JSON), read with their last tick (hash ``{ns}:cron``, which cron_enqueue keeps). A mixin
of RedisBackend."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence

from conveyor.types import CronEntryRecord

from .connection import RedisConnection

log = logging.getLogger("conveyor.backends.redis")

_PUBLISHED = tuple(field.name for field in dataclasses.fields(CronEntryRecord) if field.name != "last_tick")


class RedisCron(RedisConnection):
    """cron_publish, cron_entries and cron_reap of RedisBackend."""

    def cron_publish(self, entries: Sequence[CronEntryRecord]) -> None:
        if not entries:
            return
        published = {e.name: json.dumps({name: getattr(e, name) for name in _PUBLISHED}) for e in entries}
        self._call(lambda: self._redis.hset(self.keys.cron_entries, mapping=published))

    def cron_entries(self) -> list[CronEntryRecord]:
        def read() -> list[dict[bytes, bytes]]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(self.keys.cron_entries)
            pipe.hgetall(self.keys.cron_ticks)
            return list(pipe.execute())

        published, ticks = self._call(read)
        entries = []
        for name, data in sorted(published.items()):
            try:
                fields = {key: value for key, value in json.loads(data).items() if key in _PUBLISHED}
                fields["last_seen"] = float(fields["last_seen"])
                tick = ticks.get(name)
                entries.append(CronEntryRecord(**fields, last_tick=None if tick is None else float(tick)))
            except (ValueError, TypeError, KeyError) as exc:  # not written by conveyor
                log.warning("left out the periodic job %r that conveyor cannot read (%r)",
                            name.decode(errors="replace"), exc)  # fmt: skip
        return entries

    def cron_reap(self, last_seen_before: float) -> list[str]:
        return sorted(name.decode() for name in self._run("cron_reap", repr(last_seen_before)))
