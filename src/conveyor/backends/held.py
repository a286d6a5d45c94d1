"""Held marks: which limit a job left queued by a claim waits for, named alike on every
backend (the Redis functions get these names from here).

A claim that leaves a job queued because a limit is full marks that limit (one mark
per limit, naming the queues it holds jobs of). A job that gives up its slot (settled,
recovered, deleted, requeued after a cancel) frees a slot of each limit it counted
against, and only a mark of one of those wakes idle workers: a settle of another
user's job leaves a per-user mark, and the idle workers it would wake in vain, alone.
The mark goes with the wake-up; a claim that still finds its job held marks it again.
On Redis a wake-up wakes one worker, so a claim that fills its batch (and stops
reading) also marks the full limits that the jobs it left unread may wait for; on
SQLite every idle worker claims at each wake-up, and one that takes nothing marks.

Rates (Limits.per_queue_rate, per_job_type_rate, per_user_rate) hold jobs too, but no
slot frees them: time does. Each rate keeps the claim times of its last starts in the
store, under its name (QUEUE_RATE, JOB_TYPE_RATE or USER_RATE and the queue, type or
user: the per-user rate keeps a log per user); a claim that leaves jobs
queued for a rate notes, per queue of those jobs, the time its window frees (the
earliest noted stays), and announces it as a due time (Backend.schedule_signals): the
workers' due pass at that time (jobs_promote_due) wakes the idle workers of those queues.

A job held by several full limits is marked for the first it fails (global, then its
queue's, its user's, its type's): it cannot start before that one frees, and the claim
that wakes for it then marks the next if that is still full.
"""

from __future__ import annotations

GLOBAL = "global"
QUEUE, USER, JOB_TYPE = "queue:", "user:", "type:"
"""Prefixes of the per-queue, per-user and per-job-type limits' names."""
QUEUE_RATE, JOB_TYPE_RATE, USER_RATE = "queuerate:", "typerate:", "userrate:"
"""Prefixes of the per-queue, per-job-type and per-user rates' names (of their starts in
the store)."""


def is_rate(name: str) -> bool:
    """Whether a held limit's name is a rate's (freed by time, not by a slot)."""
    return name.startswith((QUEUE_RATE, JOB_TYPE_RATE, USER_RATE))


READ_PAST = 100
"""How many jobs of full job types (or types the jobs read before them would fill) a claim
reads past, per user of a queue, to reach that user's jobs of other types: a claim reads
each user's first jobs, as many as it may take, so without this a job of another type
queued behind them would wait for a slot of a type it is not of. Bounded, as each job
read past costs every claim while its type stays full; past the bound a user's later
jobs wait as before."""


def freed_by(queue: str, user: str | None, func_name: str) -> list[str]:
    """The limits a running job of this queue, user and function counts against: those
    whose held jobs may start once it gives up its slot."""
    limits = [GLOBAL, QUEUE + queue, JOB_TYPE + func_name]
    if user is not None:
        limits.append(USER + user)
    return limits
