"""When scheduled jobs come due: the next due time read from the store, and sooner ones
heard as the scripts announce them (prelude.lua's announce_due publishes the store's
earliest due time on a channel when a call put something on it). The housekeeper reads
what arrived every tick, from its subscription's socket, with no round trip (see
Backend.schedule_signals)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoPermissionError, RedisError

from conveyor.exceptions import BackendError

from .connection import RedisConnection

log = logging.getLogger("conveyor.backends.redis")

RESUBSCRIBE_FIRST, RESUBSCRIBE_LAST = 1.0, 30.0
"""Seconds before subscribing again after the subscription failed: doubling from the
first to the last, since each try may wait out the connect timeout on the housekeeper's
thread."""


class RedisDueSignals(RedisConnection):
    """schedule_next_due and schedule_signals of RedisBackend."""

    def __init__(self, url: str, *, prefix: str = "conveyor") -> None:
        super().__init__(url, prefix=prefix)
        self._due_subscription = DueSubscription(self._redis, self.keys.due_signals, self.schedule_next_due)

    def schedule_next_due(self) -> float | None:
        def earliest() -> list[list[tuple[bytes, float]]]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrange(self.keys.due, 0, 0, withscores=True)
            pipe.zrange(self.keys.batch_starts, 0, 0, withscores=True)
            pipe.zrange(self.keys.rate_due, 0, 0, withscores=True)  # a rate's window frees
            return list(pipe.execute())

        return min((float(score) for head in self._call(earliest) for _, score in head), default=None)

    def schedule_signals(self) -> float | None:
        return self._due_subscription.take()

    def close(self) -> None:
        self._due_subscription.close()
        super().close()


class DueSubscription:
    """One backend object's subscription to its namespace's due channel.

    The workers of a process may share the object: their housekeepers read in turn (a
    redis-py PubSub is not thread-safe), and one that finds another reading hears
    nothing, since the reader runs the due pass, which promotes for every queue. Each
    time Redis confirms the subscription (the first, or again after one was lost) the
    earliest due time is read once: it stands for what was announced before."""

    def __init__(self, client: Any, channel: str, read_next_due: Callable[[], float | None]) -> None:
        self._client = client
        self._channel = channel
        self._read_next_due = read_next_due
        self._lock = threading.Lock()
        self._pubsub: Any = None
        self._failures = 0  # tries that failed since the subscription last worked
        self._retry_at = 0.0  # (monotonic) no new subscription before then

    def take(self) -> float | None:
        """The earliest due time heard since the last call, or None; never raises."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._pubsub is None:
                self._subscribe()
                return None
            return self._received()
        finally:
            self._lock.release()

    def _received(self) -> float | None:
        times: list[float | None] = []
        try:
            while (message := self._pubsub.get_message(timeout=0.0)) is not None:
                if message["type"] == "message":
                    with contextlib.suppress(ValueError):  # (not from conveyor: nothing to read)
                        times.append(float(message["data"]))
                elif message["type"] == "subscribe":  # (not a pong)
                    times.append(self._confirmed())
        except (RedisError, BackendError) as exc:
            self._lost(exc)
        return min((t for t in times if t is not None), default=None)

    def _confirmed(self) -> float | None:
        """Redis subscribed us: every announcement from now on is heard, and the earliest
        due time read now covers those made before."""
        next_due = self._read_next_due()
        if self._failures > 1:  # (warned)
            log.info("hears the due times Redis announces again")
        self._failures = 0
        return next_due

    def _subscribe(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self._channel)  # (a refusal comes with the confirmation's reply)
        except RedisError as exc:
            with contextlib.suppress(RedisError):
                pubsub.close()
            self._lost(exc)
            return
        self._pubsub = pubsub

    def _lost(self, error: Exception) -> None:
        """Drop the subscription and try again later: meanwhile scheduled jobs are
        promoted at the poll, up to a poll interval late. A subscription lost once and
        made again at the next try costs nothing (the read at its confirmation covers
        the gap); one that cannot be made is worth a warning, once."""
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                self._pubsub.close()
            self._pubsub = None
        self._failures += 1
        if self._failures == 1:
            log.info("lost the subscription to due-time announcements (%s); subscribing again", error)
        elif self._failures == 2:
            log.warning(
                "cannot hear the due times Redis announces (%s): a job scheduled less than a poll interval ahead "
                "(enqueue_in, a retry with a delay, a batch start) may start up to a poll interval late until this "
                "works again%s", error,
                " (the ACL user needs the namespace's channels and the pub/sub commands: see the README's Redis ACL)"
                if isinstance(error, NoPermissionError) else "",
            )  # fmt: skip
        delay = min(RESUBSCRIBE_FIRST * 2.0 ** (self._failures - 1), RESUBSCRIBE_LAST)
        self._retry_at = time.monotonic() + delay

    def close(self) -> None:
        with self._lock:
            if self._pubsub is not None:
                with contextlib.suppress(RedisError):
                    self._pubsub.close()
                self._pubsub = None
