"""Idle workers' wait for jobs: a blocking pop of the wake-up lists of the worker's
queues, which each job made ready pushes a token to, and of a stopping worker's own halt
list (see conveyor.halt)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.halt import Halt, halted

from .connection import RedisConnection
from .keys import WAKE_TOKENS_KEPT

HALT_TTL = 10
"""Seconds a stopping worker's halt token lasts unpopped (it stopped while not waiting)."""


class RedisWakeup(RedisConnection):
    """The wait for jobs of RedisBackend (its claim waits the same way)."""

    def wait_for_jobs(
        self,
        queues: Sequence[str],
        timeout: float,
        halt: Halt | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        keys = self._wake_keys(queues, halt)
        if halted(halt):
            return
        popped = self._call(lambda: self._redis.blpop(keys, timeout=self._blpop_timeout(timeout)))
        if popped is not None and wanted is not None and not wanted():
            self._give_back(popped, halt)

    def _give_back(self, popped: Any, halt: Halt | None) -> None:
        """Push back a wake-up token whose worker will not claim now (it filled up or is
        stopping meanwhile): one job's only token, taken by a wait it outlived, would
        otherwise leave the job queued while another worker waits out its poll interval.
        Trimmed in the same transaction: jobs made ready since the pop may have filled
        the list again, and it holds at most WAKE_TOKENS_KEPT."""
        key = popped[0].decode() if isinstance(popped[0], bytes) else str(popped[0])
        if halt is None or key != self.keys.halt(halt.token):
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(key, "1").ltrim(key, 0, WAKE_TOKENS_KEPT - 1)
            self._call(pipe.execute)

    def _wake_keys(self, queues: Sequence[str], halt: Halt | None) -> list[str]:
        """What an idle worker's pop waits on: its queues' wake-up lists and, given a halt,
        the list its stop pushes to (from the halt's thread: see Halt.when_set), so a stop
        ends the wait at once. The pop takes the one token, and Redis deletes the emptied
        list."""
        keys = [self.keys.wake(queue) for queue in dict.fromkeys(queues)]
        if halt is None:
            return keys
        key = self.keys.halt(halt.token)
        halt.when_set(key, functools.partial(self._push_halt, halt.token))
        return [*keys, key]

    def _push_halt(self, token: str) -> None:
        """Push the token that ends the wait, and mark the halt for the claim sent with the
        pop (which cannot see what the pop took): a stopping worker claims nothing."""
        key = self.keys.halt(token)
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(key, "halt").expire(key, HALT_TTL).set(self.keys.halted(token), "1", ex=HALT_TTL)
        self._call(pipe.execute)

    def _blpop_timeout(self, seconds: float) -> float:
        """A BLPOP timeout: never 0 (which waits forever), and within the socket timeout."""
        return min(max(seconds, 0.01), self._block_slice)
