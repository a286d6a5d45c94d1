"""A worker's ear for due-time announcements: the scripts publish the store's earliest due
time on a channel when a call put something on it (prelude.lua's announce_due), and the
housekeeper reads what arrived every tick, from its subscription's socket, with no round
trip (see Backend.schedule_signals)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from .connection import RedisConnection

log = logging.getLogger("conveyor.backends.redis")

RESUBSCRIBE_FIRST, RESUBSCRIBE_LAST = 1.0, 30.0
"""Seconds before subscribing again after the subscription failed: doubling from the
first to the last, since each try may wait out the connect timeout on the housekeeper's
thread."""


class RedisDueSignals(RedisConnection):
    """schedule_signals of RedisBackend."""

    _due_subscription: Any = None
    _due_failures = 0
    _due_retry_at = 0.0  # (monotonic) no new subscription before then

    def schedule_signals(self) -> float | None:
        subscription = self._due_subscription
        if subscription is None:
            self._subscribe_to_due()
            return None
        times = []
        try:
            while (message := subscription.get_message(timeout=0.0)) is not None:
                if message["type"] == "message":  # (not the subscription's confirmation, nor a pong)
                    with contextlib.suppress(ValueError):  # (not from conveyor: nothing to read)
                        times.append(float(message["data"]))
        except RedisError as exc:
            self._due_lost(exc)
        return min(times, default=None)

    def _subscribe_to_due(self) -> None:
        if time.monotonic() < self._due_retry_at:
            return
        subscription = self._redis.pubsub()
        try:
            subscription.subscribe(self.keys.due_signals)
        except RedisError as exc:
            with contextlib.suppress(RedisError):
                subscription.close()
            self._due_lost(exc)
            return
        self._due_subscription, self._due_failures = subscription, 0

    def _due_lost(self, error: RedisError) -> None:
        """Drop the subscription and try again later: meanwhile jobs scheduled from
        elsewhere are promoted at the poll, up to a poll interval late."""
        if self._due_subscription is not None:
            with contextlib.suppress(RedisError):
                self._due_subscription.close()
            self._due_subscription = None
        self._due_failures += 1
        if self._due_failures == 1:
            log.warning(
                "cannot hear the due times other clients announce (%s): a job scheduled from elsewhere less than a "
                "poll interval ahead may start up to a poll interval late until this works again", error,
            )  # fmt: skip
        delay = min(RESUBSCRIBE_FIRST * 2.0 ** (self._due_failures - 1), RESUBSCRIBE_LAST)
        self._due_retry_at = time.monotonic() + delay

    def close(self) -> None:
        if self._due_subscription is not None:
            with contextlib.suppress(RedisError):
                self._due_subscription.close()
            self._due_subscription = None
        super().close()
