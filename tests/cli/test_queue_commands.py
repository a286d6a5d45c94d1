"""``conveyor pause``, ``resume``, ``empty`` and ``cleanup``."""

from __future__ import annotations

import json
import time

from backend_conformance.helpers import cron_record
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import WorkerRecord

from .conftest import Run, assert_user_error, put_job


def test_pause_and_resume_queues_store_wide_and_info_shows_them(run: Run, db: Backend) -> None:
    job = put_job(db, queue="emails")
    result = run("pause", "emails", "idle")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Paused queue 'emails' (0s ago)", "Paused queue 'idle' (0s ago)",
        "No worker starts their jobs until `conveyor resume emails idle`",
    ]  # fmt: skip
    assert db.queues_paused().keys() == {"emails", "idle"}
    assert db.jobs_claim(["emails"], "w", 10, "t", time.time() + 30, time.time()) == []
    info = json.loads(run("info", "--json").stdout)
    rows = {row["name"]: row for row in info["queues"]}
    assert (rows["emails"]["paused"], rows["idle"]["paused"], rows["idle"]["total"]) == (True, True, 0)
    assert rows["emails"]["paused_at"].endswith("Z")
    assert info["unserved_queues"] == [], "a paused queue needs no worker: its jobs wait for the resume"
    shown = run("info").stdout
    assert "emails (paused)" in shown and "`conveyor resume emails idle` resumes them" in shown
    result = run("resume", "emails", "never", "--json")
    assert json.loads(result.stdout) == {"resumed": ["emails"]}
    assert db.queues_paused().keys() == {"idle"}
    assert [r.id for r in db.jobs_claim(["emails"], "w", 10, "t", time.time() + 30, time.time())] == [job.id]
    assert run("resume", "idle").stdout.strip() == "Resumed queue 'idle'"
    assert run("resume", "idle").stdout.strip() == "Queue 'idle' was not paused"


def test_pause_needs_a_queue_and_a_valid_name(run: Run) -> None:
    assert "Missing argument" in run("pause").stderr
    assert_user_error(run("resume", " x"), 2, "must not contain spaces at its ends")


def test_empty_deletes_the_queued_jobs_of_each_queue(run: Run, db: Backend) -> None:
    for queue in ("a", "a", "b"):
        put_job(db, queue=queue)
    running = put_job(db, queue="a", status="started")
    result = run("empty", "a", "b")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["Emptied queue 'a': 2 jobs deleted", "Emptied queue 'b': 1 job deleted"]
    assert db.counts() == {"a": {JobStatus.STARTED: 1}}
    assert db.jobs_get([running.id])[0] is not None


def test_empty_json(run: Run, db: Backend) -> None:
    put_job(db)
    data = json.loads(run("empty", "default", "nothing-here", "--json").stdout)
    assert data == {"deleted": {"default": 1, "nothing-here": 0}, "total": 1}


def test_empty_needs_a_queue(run: Run) -> None:
    result = run("empty")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_empty_a_bad_queue_name_is_status_2(run: Run) -> None:
    assert_user_error(run("empty", " x"), 2, "must not contain spaces at its ends")


def _stale_store(db: Backend) -> dict[str, str]:
    now = time.time()
    due = put_job(db, status="scheduled", scheduled_for=now - 10)
    later = put_job(db, status="scheduled", scheduled_for=now + 3600)
    abandoned = put_job(db, status="started", lease_expires_at=now - 10, worker_name="gone-worker")
    expiring = put_job(db, ttl=1.0, expires_at=now - 10)
    old = put_job(db, status="finished", keep_until=now - 10)
    kept = put_job(db, status="finished", keep_until=now + 3600)
    db.workers_register(WorkerRecord(name="gone-worker", hostname="h", pid=1, queues=("default",), concurrency=1,
                                     started_at=now - 3600, last_heartbeat=now - 1000))  # fmt: skip
    db.workers_register(WorkerRecord(name="live-worker", hostname="h", pid=2, queues=("default",), concurrency=1,
                                     started_at=now - 3600, last_heartbeat=now))  # fmt: skip
    db.cron_publish([cron_record("dropped", last_seen=now - 8 * 86400), cron_record("running", last_seen=now - 3600)])
    return {"due": due.id, "later": later.id, "abandoned": abandoned.id, "expiring": expiring.id,
            "old": old.id, "kept": kept.id}  # fmt: skip


def test_cleanup_runs_the_maintenance_passes_and_reports_json(run: Run, db: Backend) -> None:
    ids = _stale_store(db)
    result = run("cleanup", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == {
        "promoted": 1,
        "recovered": [{"job_id": ids["abandoned"], "status": "failed", "worker_name": "gone-worker"}],
        "expired": 1,
        "purged": 1,
        "reaped_workers": ["gone-worker"],
        "removed_cron_entries": ["dropped"],
    }
    statuses = {name: record.status if record else None for name, record in zip(ids, db.jobs_get(list(ids.values())))}
    assert statuses == {
        "due": JobStatus.QUEUED,
        "later": JobStatus.SCHEDULED,
        "abandoned": JobStatus.FAILED,
        "expiring": JobStatus.CANCELED,
        "old": None,
        "kept": JobStatus.FINISHED,
    }
    assert [w.name for w in db.workers_list()] == ["live-worker"]
    assert [entry.name for entry in db.cron_entries()] == ["running"]


def test_cleanup_says_what_it_did(run: Run, db: Backend) -> None:
    _stale_store(db)
    lines = run("cleanup").stdout.splitlines()
    assert lines == [
        "Promoted scheduled jobs that were due: 1",
        "Recovered jobs whose lease expired: 1 (1 failed)",
        "Expired queued jobs past their ttl: 1",
        "Purged ended jobs past their result or failure ttl: 1",
        "Reaped silent workers: 1 (gone-worker)",
        "Removed periodic jobs no scheduler published for a week: 1 (dropped)",
    ]
    assert run("cleanup").stdout.splitlines()[0] == "Promoted scheduled jobs that were due: 0"


def test_cleanup_worker_ttl(run: Run, db: Backend) -> None:
    _stale_store(db)
    assert json.loads(run("cleanup", "--worker-ttl", "5000", "--json").stdout)["reaped_workers"] == []


def test_cleanup_on_a_missing_directory_is_status_2(run: Run) -> None:
    assert_user_error(run("cleanup", url="sqlite:////nonexistent-dir/x/conveyor.db"), 2, "does not exist")
