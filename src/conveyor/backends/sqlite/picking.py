"""Which queued jobs a claim takes when users share a queue or limits apply (SQLite).

The plain claim takes a queue's first jobs in ``priority DESC, CLAIM_ORDER`` order (seq,
an at_front job's before the others). When the
queue holds more than one user's jobs, or limits are set, this module picks instead:
the first few jobs of each user (an index range per user), ordered by priority, then
by their rank within their user (round after round), then by how long ago their user
was last served, skipping jobs whose user, queue or job type is at its limit (a user's
jobs of a full type are read past, up to ``held.READ_PAST`` of them). Each
step reads an index range, so the cost grows with the number of users waiting, not
with the number of jobs.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from conveyor.backends import held
from conveyor.rates import Rate
from conveyor.types import Limits

from .rows import CLAIM_ORDER, STILL_HELD_SQL

_NOT_EXPIRED = "AND (expires_at IS NULL OR expires_at > ?)"


@dataclass
class Running:
    """STARTED jobs across every worker, counted the ways limits need."""

    total: int = 0
    by_user: Counter[str | None] = field(default_factory=Counter)
    by_queue: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    held: set[str] = field(default_factory=set)
    """The full limits a claim left jobs queued for (see conveyor.backends.held): marked,
    so that the next job to give up a slot of one wakes the idle workers, as no enqueue
    would (a rate's, at the time its window frees: see rate_due)."""
    rates: dict[str, RateWindow] = field(default_factory=dict)
    """The rates of the claim, by name (see conveyor.backends.held), with their windows."""
    rate_now: float = 0.0
    """The time the claim's starts count at, and are logged with."""
    starts: list[tuple[str, float]] = field(default_factory=list)
    """(rate, time) of each start the claim made, for the rate_starts table."""
    user_rate: Rate | None = None
    """The per-user rate: each user's window is read when the claim first meets the user."""
    conn: sqlite3.Connection | None = field(default=None, repr=False)
    """The claim's connection, for the users' windows (set by read_rates)."""

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> Running:
        """Started jobs, and jobs canceled while they ran that their worker has not yet
        stopped (see STILL_HELD_SQL): those run on until it hears of the cancel."""
        running = cls()
        for user, queue, func_name in conn.execute(
            "SELECT user_id, queue, func_name FROM jobs WHERE status = 'started' UNION ALL "
            f"SELECT user_id, queue, func_name FROM jobs INDEXED BY jobs_stop_requests WHERE {STILL_HELD_SQL}"
        ):
            running.add(user, queue, func_name)
        return running

    def read_rates(self, conn: sqlite3.Connection, limits: Limits, now: float) -> None:
        """Count the starts in each rate's window (now - period, now], dropping older ones
        (a user's, when the claim meets the user: user_rate_name)."""
        self.rate_now, self.conn, self.user_rate = now, conn, limits.user_rate
        for name, rate in rates_by_name(limits).items():
            self._open_rate(name, rate)

    def _open_rate(self, name: str, rate: Rate) -> None:
        assert self.conn is not None
        self.conn.execute("DELETE FROM rate_starts WHERE rate = ? AND at <= ?", (name, self.rate_now - rate.period))
        (used,) = self.conn.execute("SELECT COUNT(*) FROM rate_starts WHERE rate = ?", (name,)).fetchone()
        self.rates[name] = RateWindow(rate.count, rate.period, used)

    def user_rate_name(self, user: str | None) -> str | None:
        """The name of the user's rate, its window read (None: no per-user rate, or no user)."""
        if self.user_rate is None or user is None:
            return None
        name = held.USER_RATE + user
        if name not in self.rates:
            self._open_rate(name, self.user_rate)
        return name

    def rate_full(self, name: str, more: int = 0) -> str | None:
        """``more``: starts a claim is about to make."""
        window = self.rates.get(name)
        return None if window is None or window.used + more < window.count else name

    def started(self, queue: str, func_name: str, user: str | None) -> None:
        """A job of this queue, type and user starts: counted against their rates."""
        for name in (held.QUEUE_RATE + queue, held.JOB_TYPE_RATE + func_name, self.user_rate_name(user)):
            window = self.rates.get(name) if name is not None else None
            if name is not None and window is not None:
                window.used += 1
                self.starts.append((name, self.rate_now))

    def rate_due(self, conn: sqlite3.Connection) -> list[tuple[str, float]]:
        """(rate, when its window lets one more job start) for each rate the claim left
        jobs queued for: now, if it left room after all (the starts logged already)."""
        due = []
        for name in sorted(filter(held.is_rate, self.held)):
            window = self.rates[name]
            free_at = self.rate_now
            if window.used >= window.count:
                (nth,) = conn.execute(
                    "SELECT at FROM rate_starts WHERE rate = ? ORDER BY at LIMIT 1 OFFSET ?",
                    (name, window.used - window.count),
                ).fetchone()
                free_at = nth + window.period
            due.append((name, free_at))
        return due

    def add(self, user: str | None, queue: str, func_name: str) -> None:
        self.total += 1
        self.by_user[user] += 1
        self.by_queue[queue] += 1
        self.by_type[func_name] += 1

    # Each returns the name of the full limit that holds a job back, or None.
    def queue_full(self, limits: Limits, queue: str) -> str | None:
        if limits.global_max is not None and self.total >= limits.global_max:
            return held.GLOBAL
        cap = limits.per_queue.get(queue)
        if cap is not None and self.by_queue[queue] >= cap:
            return held.QUEUE + queue
        return self.rate_full(held.QUEUE_RATE + queue)

    def user_full(self, limits: Limits, user: str | None) -> str | None:
        if user is None:
            return None
        if limits.per_user_max is not None and self.by_user[user] >= limits.per_user_max:
            return held.USER + user
        name = self.user_rate_name(user)
        return None if name is None else self.rate_full(name)

    def type_full(self, limits: Limits, func_name: str, more: int = 0) -> str | None:
        """``more``: jobs of the type a claim is about to take."""
        cap = limits.per_job_type.get(func_name)
        if cap is not None and self.by_type[func_name] + more >= cap:
            return held.JOB_TYPE + func_name
        return self.rate_full(held.JOB_TYPE_RATE + func_name, more)

    def holding_limit(self, limits: Limits, user: str | None, queue: str, func_name: str) -> str | None:
        return self.queue_full(limits, queue) or self.user_full(limits, user) or self.type_full(limits, func_name)


@dataclass
class RateWindow:
    """One rate as a claim sees it: its count and period, and the starts in its window."""

    count: int
    period: float
    used: int


def rates_by_name(limits: Limits) -> dict[str, Rate]:
    """The limits' rates, by their names (see conveyor.backends.held)."""
    named = {held.QUEUE_RATE + queue: rate for queue, rate in limits.queue_rates.items()}
    named.update((held.JOB_TYPE_RATE + func_name, rate) for func_name, rate in limits.job_type_rates.items())
    return named


def needs_fair_pick(conn: sqlite3.Connection, queue: str) -> bool:
    """Whether the queue's waiting jobs belong to more than one user (no-user counting as one)."""
    waiting = "FROM jobs WHERE status = 'queued' AND queue = ?1"
    lowest, highest, anonymous = conn.execute(  # separate subqueries: each one an index probe
        f"SELECT (SELECT MIN(user_id) {waiting}), (SELECT MAX(user_id) {waiting}), "
        f"EXISTS (SELECT 1 {waiting} AND user_id IS NULL)",
        (queue,),
    ).fetchone()
    if lowest is None:
        return False
    return bool(lowest != highest or anonymous)


def pick(conn: sqlite3.Connection, queue: str, wanted: int, now: float, limits: Limits, running: Running) -> list[str]:
    """Ids of up to ``wanted`` jobs of ``queue`` to claim, in the order to run them.

    Updates ``running`` with the jobs picked and records when each user was served.
    """
    full = running.queue_full(limits, queue)
    if full is not None:
        if full not in running.held and _has_queued(conn, queue):
            running.held.add(full)
        return []
    candidates: list[tuple[int, int, int, int, str, str | None, str]] = []
    for user in _waiting_users(conn, queue):
        user_full = running.user_full(limits, user)
        if user_full is not None:
            running.held.add(user_full)
            continue  # at its limit: its jobs wait, and need not be read
        rows = conn.execute(  # stepped only as far as read (the read past is seldom needed)
            "SELECT id, priority, seq, func_name FROM jobs WHERE status = 'queued' AND queue = ? "
            f"AND user_id IS ? {_NOT_EXPIRED} ORDER BY priority DESC, {CLAIM_ORDER} LIMIT ?",
            (queue, user, now, wanted + held.READ_PAST if limits.per_job_type or limits.per_job_type_rate else wanted),
        )
        served = _last_served(conn, queue, user)
        rank = passed = 0
        reading: Counter[str] = Counter()  # the user's jobs read so far, per type
        for job_id, priority, seq, func_name in rows:
            if rank == wanted:
                break
            # read past jobs of a type this read would fill (see held.READ_PAST)
            type_full = running.type_full(limits, func_name, reading[func_name]) if passed < held.READ_PAST else None
            if type_full is not None:
                running.held.add(type_full)
                passed += 1
            else:
                candidates.append((-priority, rank, served, seq, job_id, user, func_name))
                reading[func_name] += 1
                rank += 1
        rows.close()
    candidates.sort()
    picked: list[str] = []
    served_users: list[str | None] = []
    for *_, job_id, user, func_name in candidates:
        if len(picked) >= wanted:
            break
        full = running.holding_limit(limits, user, queue, func_name)
        if full is None:
            running.add(user, queue, func_name)
            running.started(queue, func_name, user)
            picked.append(job_id)
            served_users.append(user)
        else:
            running.held.add(full)
    record_turns(conn, queue, served_users)
    return picked


def _has_queued(conn: sqlite3.Connection, queue: str) -> bool:
    query = "SELECT 1 FROM jobs WHERE status = 'queued' AND queue = ? LIMIT 1"
    return conn.execute(query, (queue,)).fetchone() is not None


def _waiting_users(conn: sqlite3.Connection, queue: str) -> list[str | None]:
    """Distinct users with queued jobs in ``queue``, by a skip-scan of the fair index."""
    users: list[str | None] = [
        row[0]
        for row in conn.execute(
            "WITH RECURSIVE waiting(user_id) AS ("
            " SELECT MIN(user_id) FROM jobs WHERE status = 'queued' AND queue = ?1"
            " UNION ALL"
            " SELECT (SELECT MIN(user_id) FROM jobs WHERE status = 'queued' AND queue = ?1"
            "         AND user_id > waiting.user_id)"
            " FROM waiting WHERE waiting.user_id IS NOT NULL"
            ") SELECT user_id FROM waiting WHERE user_id IS NOT NULL",
            (queue,),
        )
    ]
    if conn.execute(
        "SELECT 1 FROM jobs WHERE status = 'queued' AND queue = ? AND user_id IS NULL LIMIT 1", (queue,)
    ).fetchone():
        users.append(None)
    return users


def _last_served(conn: sqlite3.Connection, queue: str, user: str | None) -> int:
    """The user's last turn in the queue (0: never served). One lookup per waiting user:
    a queue keeps the turn of every user it ever served, which a busy multi-tenant
    queue counts in the hundreds of thousands, and a claim must not read them all."""
    row = conn.execute("SELECT served FROM user_turns WHERE queue = ? AND user_id = ?", (queue, _turn_key(user)))
    found = row.fetchone()
    return 0 if found is None else int(found[0])


def record_turns(conn: sqlite3.Connection, queue: str, served: list[str | None]) -> None:
    """Mark users as served, the first served the longest ago, so others go first next time."""
    if not served:
        return
    (last,) = conn.execute(  # the end of the user_turns_order index, not a scan of every user's turn
        "SELECT COALESCE(MAX(served), 0) FROM user_turns WHERE queue = ?", (queue,)
    ).fetchone()
    order = list(dict.fromkeys(served))
    conn.executemany(
        "INSERT INTO user_turns (queue, user_id, served) VALUES (?, ?, ?) "
        "ON CONFLICT (queue, user_id) DO UPDATE SET served = excluded.served",
        [(queue, _turn_key(user), last + 1 + i) for i, user in enumerate(order)],
    )


def _turn_key(user: str | None) -> str:
    """Jobs without a user take turns as one more user, keyed by the empty name."""
    return "" if user is None else user
