"""``conveyor doctor``: check that the store holds what its invariants say, and repair it.

A store can drift from its invariants only through outside hands (a key deleted by
hand, a restore from an old backup, a bug): every conveyor write keeps them in one
atomic step. The doctor reads the whole store, reports each broken invariant and,
with ``repair``, fixes those that can be fixed without guessing. The kinds:

- ``counts``: the per-queue, per-status counters differ from the jobs (recounted)
- ``orphan_link``: a dependency link or index entry names a job that does not exist (dropped)
- ``missing_index`` / ``stray_index``: a job is missing from the index its status calls
  for, or sits in one it does not (Redis; SQLite keeps its indexes itself) (re-indexed)
- ``lease_missing``: a running job without a lease, which recovery would never take back
  (given a lease that has run out, so recovery takes it at once)
- ``stuck_deferred``: a deferred job whose unmet set (the dependencies it still waits on)
  is empty or holds only jobs that have ended as it needs (queued); a dependency gone
  counts as unmet, as it was deleted before it finished
- ``unreachable_scheduled``: a scheduled job with neither a time nor a scheduled batch
  holding it (queued)
- ``batch_starter_missing`` / ``batch_starter_stray``: a scheduled batch without its starter
  entry (one is made, due now), or a starter left for a batch that is not scheduled (dropped)
- ``damaged_file``: SQLite's own check finds the file damaged (not repaired: restore a
  backup, or salvage it with the sqlite3 shell's ``.recover``); nothing else is checked
- ``broken_key``: a key conveyor cannot read (Redis: a job that is not a hash or lacks its
  queue or status, an index or counter of another type or not a number, a worker
  registration that is not conveyor's); never repaired, since what it should hold is not
  known: delete or restore it by hand. Its job's index entries are not taken for orphans.
- ``clock_skew``: this machine's clock is off the store's (Redis) past what the workers'
  lease allows (conveyor.clock_skew); not repaired: synchronise the clock (NTP).
"""

from __future__ import annotations

import socket

from conveyor import clock_skew
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock
from conveyor.types import ClockOffset, Finding

KINDS = (
    "counts", "orphan_link", "missing_index", "stray_index", "lease_missing", "stuck_deferred",
    "unreachable_scheduled", "batch_starter_missing", "batch_starter_stray", "damaged_file", "broken_key",
    "clock_skew",
)  # fmt: skip


DEFAULT_LEASE_TTL = 30.0
"""The workers' lease unless told otherwise (Worker's and ``conveyor worker``'s default)."""


def examine(
    backend: Backend,
    now: float,
    repair: bool = False,
    *,
    clock: Clock = SYSTEM_CLOCK,
    lease_ttl: float = DEFAULT_LEASE_TTL,
) -> list[Finding]:
    """Every broken invariant of the store, repaired when ``repair`` is set, and this
    machine's clock (``clock``) when it is off the store's past what ``lease_ttl`` allows."""
    return checkup(backend, now, repair, clock, lease_ttl)[0]


def checkup(
    backend: Backend, now: float, repair: bool, clock: Clock, lease_ttl: float
) -> tuple[list[Finding], ClockOffset | None]:
    """examine()'s findings, and the clock offset measured for them (None on SQLite)."""
    measured = backend.store_clock_offset(clock)
    findings = backend.invariants_check(now, repair)
    if measured is not None and clock_skew.judge(measured, lease_ttl) is not clock_skew.Skew.IN_STEP:
        findings.append(Finding("clock_skew", socket.gethostname(), clock_skew.explain(measured, lease_ttl)))
    return findings, measured
