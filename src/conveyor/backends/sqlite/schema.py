"""The SQLite schema, as numbered migrations applied in order.

``PRAGMA user_version`` records the last migration applied. A migration is never
edited once released; changes go in a new one appended to MIGRATIONS.
"""

from __future__ import annotations

import sqlite3

from conveyor.exceptions import ConfigurationError

MIGRATIONS: list[str] = [
    # 1: jobs, dependency links, workers, counters
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        queue TEXT NOT NULL,
        func_name TEXT NOT NULL,
        payload BLOB NOT NULL,
        serializer TEXT NOT NULL,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        user_id TEXT,
        timeout REAL,
        ttl REAL,
        result_ttl REAL,
        failure_ttl REAL,
        max_retries INTEGER NOT NULL DEFAULT 0,
        retry_intervals TEXT NOT NULL DEFAULT '[]',
        retry_jitter REAL NOT NULL DEFAULT 0,
        retry_count INTEGER NOT NULL DEFAULT 0,
        depends_on TEXT NOT NULL DEFAULT '[]',
        allow_dependency_failures INTEGER NOT NULL DEFAULT 0,
        description TEXT,
        meta BLOB,
        progress REAL,
        metrics BLOB,
        created_at REAL NOT NULL,
        enqueued_at REAL,
        scheduled_for REAL,
        started_at REAL,
        ended_at REAL,
        last_heartbeat REAL,
        expires_at REAL,
        keep_until REAL,
        result BLOB,
        exc_info TEXT,
        status_reason TEXT,
        worker_name TEXT,
        lease_token TEXT,
        lease_expires_at REAL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        batch_id TEXT
    );
    CREATE INDEX jobs_claim ON jobs (queue, priority DESC, seq) WHERE status = 'queued';
    CREATE INDEX jobs_by_status ON jobs (status, queue, seq);
    CREATE INDEX jobs_due ON jobs (scheduled_for) WHERE status = 'scheduled';
    CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'started';
    CREATE INDEX jobs_queued_expiry ON jobs (expires_at)
        WHERE status = 'queued' AND expires_at IS NOT NULL;
    CREATE INDEX jobs_retention ON jobs (keep_until) WHERE keep_until IS NOT NULL;
    CREATE INDEX jobs_stop_requests ON jobs (worker_name) WHERE stop_requested = 1;
    CREATE TABLE job_dependencies (
        parent_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        PRIMARY KEY (parent_id, job_id)
    ) WITHOUT ROWID;
    CREATE INDEX job_dependencies_child ON job_dependencies (job_id);
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        state TEXT NOT NULL,
        current_job_ids TEXT NOT NULL,
        started_at REAL NOT NULL,
        last_heartbeat REAL NOT NULL,
        jobs_done INTEGER NOT NULL DEFAULT 0,
        version TEXT NOT NULL
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('seq', 0);
    """,
    # 2: job events, counts per queue and status, throughput per minute (written by the
    # backend in the same transaction as each change: triggers cost 2x per row); locks, marks;
    # fair share: queued jobs by user, and when each user was last served
    """
    CREATE TABLE job_events (seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, status TEXT);
    CREATE TABLE status_counts (
        queue TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, status)
    ) WITHOUT ROWID;
    INSERT INTO status_counts (queue, status, n) SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status;
    CREATE TABLE throughput (
        minute INTEGER PRIMARY KEY, finished INTEGER NOT NULL, failed INTEGER NOT NULL, runtime REAL NOT NULL
    );
    CREATE TABLE locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID;
    CREATE TABLE marks (name TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
    ALTER TABLE jobs ADD COLUMN unique_key TEXT;
    CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('queued', 'deferred', 'scheduled', 'started');
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        total INTEGER NOT NULL,
        created_at REAL NOT NULL,
        name TEXT,
        user_id TEXT,
        scheduled_start REAL,
        started_at REAL,
        completed_at REAL,
        on_complete_job TEXT,
        on_failure_job TEXT
    );
    CREATE INDEX batches_starters ON batches (scheduled_start) WHERE status = 'scheduled';
    CREATE INDEX batches_running ON batches (id) WHERE status = 'running';
    CREATE INDEX batches_by_user ON batches (user_id, id);
    CREATE INDEX jobs_batch ON jobs (batch_id, status) WHERE batch_id IS NOT NULL;
    CREATE INDEX jobs_fair ON jobs (queue, user_id, priority DESC, seq) WHERE status = 'queued';
    CREATE TABLE user_turns (
        queue TEXT NOT NULL, user_id TEXT NOT NULL, served INTEGER NOT NULL, PRIMARY KEY (queue, user_id)
    ) WITHOUT ROWID;
    """,
    # 3: an ended batch goes with its last job (retention, a delete), so batches do not pile
    # up forever; those already left without jobs go now
    """
    CREATE TRIGGER batches_end_with_their_jobs AFTER DELETE ON jobs
    WHEN old.batch_id IS NOT NULL
    BEGIN
        DELETE FROM batches WHERE id = old.batch_id AND status IN ('completed', 'canceled')
            AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = old.batch_id);
    END;
    DELETE FROM batches WHERE status IN ('completed', 'canceled')
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = batches.id);
    """,
    # 4: one user's jobs by queue and status, newest first: listings and counts of a user
    # read that user's jobs only, not everyone's
    """
    CREATE INDEX jobs_by_user ON jobs (user_id, queue, status, seq) WHERE user_id IS NOT NULL;
    """,
    # 5: a batch's jobs in the order given (the rowid), for its listing without a sort
    """
    CREATE INDEX jobs_batch_order ON jobs (batch_id) WHERE batch_id IS NOT NULL;
    """,
    # 6: where a worker runs its sync jobs (threads or processes), for /workers
    """
    ALTER TABLE workers ADD COLUMN pool TEXT NOT NULL DEFAULT 'threads';
    """,
    # 7: job callbacks (on_success, on_failure, on_stopped), as RQ's
    """
    ALTER TABLE jobs ADD COLUMN callbacks TEXT;
    """,
    # 8: a worker asked from outside to shut down (send_shutdown_command), told at its heartbeat
    """
    ALTER TABLE workers ADD COLUMN shutdown_requested INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: each dependency link says whether the child still waits on that parent (its unmet
    # set), so a parent deleted or purged before it resolved releases nothing. Links of
    # existing jobs are set as the release rule read them until now: a parent gone, finished,
    # or ended unsuccessfully for a child that allows failures is met
    """
    ALTER TABLE job_dependencies ADD COLUMN met INTEGER NOT NULL DEFAULT 0;
    UPDATE job_dependencies SET met = 1 WHERE NOT EXISTS (
        SELECT 1 FROM jobs parent WHERE parent.id = job_dependencies.parent_id
        AND parent.status != 'finished' AND NOT (parent.status IN ('failed', 'stopped', 'canceled')
            AND EXISTS (SELECT 1 FROM jobs child WHERE child.id = job_dependencies.job_id
                        AND child.allow_dependency_failures = 1)));
    """,
    # 10: a worker's counters as RQ's (failed jobs, time spent running jobs), for Worker.all()
    """
    ALTER TABLE workers ADD COLUMN jobs_failed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE workers ADD COLUMN working_time REAL NOT NULL DEFAULT 0;
    """,
    # 11: of a worker's failed jobs, those a stop or a cancel ended (the dashboard shows them apart)
    """
    ALTER TABLE workers ADD COLUMN jobs_stopped INTEGER NOT NULL DEFAULT 0;
    """,
    # 12: jobs that ended stopped or canceled, per minute, beside those finished or failed:
    # they ended too (the dashboard's chart of jobs ended)
    """
    ALTER TABLE throughput ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;
    """,
    # 13: periodic jobs: the last tick each one enqueued, so schedulers in several processes
    # enqueue each tick once (Backend.cron_enqueue)
    """
    CREATE TABLE cron_ticks (entry TEXT PRIMARY KEY, tick REAL NOT NULL) WITHOUT ROWID;
    """,
    # 14: a queue's latest turn from an index: the fair claim read it by scanning the turn
    # of every user the queue ever served (99 ms a claim after 100,000 users)
    """
    CREATE INDEX user_turns_order ON user_turns (queue, served);
    """,
    # 15: periodic jobs as their schedulers publish them, for operators (Backend.cron_publish)
    """
    CREATE TABLE cron_entries (
        name TEXT PRIMARY KEY,
        schedule_kind TEXT NOT NULL,
        schedule TEXT NOT NULL,
        timezone TEXT NOT NULL,
        queue TEXT NOT NULL,
        job_type TEXT NOT NULL,
        scheduler TEXT NOT NULL,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        last_seen REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 16: RQ's at_front: a job whose at_front is 1 (NULL otherwise: nothing to store for
    # most jobs) is claimed before the others of its priority, the one queued last first.
    # The claim order is an expression of seq, so that each write of a new seq (enqueue,
    # retry, requeue, promotion) places it, and listings keep ordering by seq alone
    """
    ALTER TABLE jobs ADD COLUMN at_front INTEGER;
    DROP INDEX jobs_claim;
    CREATE INDEX jobs_claim ON jobs (queue, priority DESC, (CASE WHEN at_front THEN -seq ELSE seq END))
        WHERE status = 'queued';
    DROP INDEX jobs_fair;
    CREATE INDEX jobs_fair ON jobs (queue, user_id, priority DESC, (CASE WHEN at_front THEN -seq ELSE seq END))
        WHERE status = 'queued';
    """,
    # 17: Retry(on=...): the exceptions a job is retried on, a JSON list (NULL: any)
    """
    ALTER TABLE jobs ADD COLUMN retry_on TEXT;
    """,
    # 18: rates (Limits.per_queue_rate, per_job_type_rate): the recent starts counted
    # against each rate (named as conveyor/backends/held.py says), by claim time; a rated
    # claim counts those of its window and drops those older than its period
    """
    CREATE TABLE rate_starts (rate TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX rate_starts_window ON rate_starts (rate, at);
    """,
    # 19: paused queues (Backend.queues_pause): claims take none of their jobs until resumed
    """
    CREATE TABLE paused_queues (queue TEXT PRIMARY KEY, paused_at REAL NOT NULL) WITHOUT ROWID;
    """,
    # 20: the maintenance pass drops the starts older than a day, the longest period (of
    # rates, or users, that no claim reads any more: a claim trims only its own rates)
    """
    CREATE INDEX rate_starts_age ON rate_starts (at);
    """,
    # 21: the audit log of operator actions (Backend.audit_append), the latest AUDIT_KEPT
    """
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        role TEXT,
        via TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to SCHEMA_VERSION; safe to run from many processes at once.

    A database already up to date is only read: opening it does not wait for another
    process's write lock (an external ``BEGIN EXCLUSIVE``, a long write) and works on a
    full disk, where reading the jobs (``conveyor info``, the dashboard) still can.
    """
    if current_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a COMMIT that failed (a full disk) has already ended it
            conn.execute("ROLLBACK")
        raise


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database (ConfigurationError if newer than SCHEMA_VERSION)."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"database schema version {version} is newer than this conveyor understands ({SCHEMA_VERSION}); "
            "upgrade conveyor"
        )
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements; a trigger body's ';' does not end its statement."""
    statements: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    return statements
