"""``conveyor info``: queues with counts per status, and workers."""

from __future__ import annotations

import json
import re
import time

from backend_conformance.helpers import cron_record
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.testing import make_record
from conveyor.types import WorkerRecord

from .conftest import Run, assert_user_error, put_job


def _worker(name: str, queues: tuple[str, ...], **fields: object) -> WorkerRecord:
    now = time.time()
    record = WorkerRecord(name=name, hostname="host", pid=123, queues=queues, concurrency=2, state="idle",
                          started_at=now - 60, last_heartbeat=now - 5)  # fmt: skip
    for key, value in fields.items():
        setattr(record, key, value)
    return record


def _fill(db: Backend) -> None:
    for status in ("queued", "queued", "started", "finished", "failed", "stopped"):
        put_job(db, status=status)
    put_job(db, queue="emails", status="scheduled", scheduled_for=time.time() + 3600)
    put_job(db, queue="emails", status="canceled")
    db.workers_register(
        _worker(
            "w-default",
            ("default",),
            state="busy",
            current_job_ids=("job-1",),
            jobs_done=4,
            jobs_failed=1,
            jobs_stopped=1,
            working_time=2.5,
        )
    )
    db.workers_register(_worker("w-emails", ("emails",)))


def test_json_lists_every_queue_status_and_worker(run: Run, db: Backend) -> None:
    _fill(db)
    result = run("info", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    queues = {q["name"]: q for q in data["queues"]}
    assert list(queues) == ["default", "emails"]
    assert queues["default"]["counts"] == {
        "queued": 2, "deferred": 0, "scheduled": 0, "started": 1,
        "finished": 1, "failed": 1, "stopped": 1, "canceled": 0,
    }  # fmt: skip
    assert queues["default"]["total"] == 6
    assert queues["emails"]["counts"]["scheduled"] == 1
    assert queues["emails"]["total"] == 2
    workers = {w["name"]: w for w in data["workers"]}
    assert set(workers) == {"w-default", "w-emails"}
    busy = workers["w-default"]
    assert (busy["state"], busy["current_job_ids"], busy["queues"], busy["pid"]) == (
        "busy",
        ["job-1"],
        ["default"],
        123,
    )
    assert (busy["jobs_done"], busy["jobs_failed"], busy["jobs_stopped"], busy["working_time"]) == (4, 1, 1, 2.5)
    assert busy["last_heartbeat"].endswith("Z")
    assert busy["healthy"] is True
    assert data["worker_health_status"] == "healthy"


def test_a_silent_worker_makes_the_store_degraded(run: Run, db: Backend) -> None:
    _fill(db)
    db.workers_register(_worker("w-gone", ("default",), last_heartbeat=time.time() - 3600))
    data = json.loads(run("info", "--json").stdout)
    assert {w["name"]: w["healthy"] for w in data["workers"]} == {"w-default": True, "w-emails": True, "w-gone": False}
    assert data["worker_health_status"] == "degraded"
    assert "Worker health: degraded" in run("info").stdout


def test_tables_show_queues_counts_and_workers(run: Run, db: Backend) -> None:
    _fill(db)
    result = run("info")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("Queues", "default", "emails", "queued", "scheduled", "Workers", "w-default", "busy", "job-1", "ago"):
        assert text in out, text


def test_long_queue_and_worker_names_fold_and_leave_the_counts_readable(run: Run, db: Backend) -> None:
    name = "q" * 90  # once squeezed every count column out of an 80-column terminal
    for status in ("queued", "failed", "canceled"):
        put_job(db, queue=name, status=status)
    db.workers_register(_worker("w" * 90, (name,), jobs_done=12, jobs_failed=3))
    out = run("info", env={"COLUMNS": "80"}).stdout
    assert re.search(r"^queue +queued +started +finished +failed +canceled +total *$", out, re.M), out
    assert re.search(r"^q+ +1 +0 +0 +1 +1 +3 *$", out, re.M), out
    assert "".join(re.findall(r"^(q+)(?: |$)", out, re.M)) == name  # the whole name, folded
    assert re.search(r"^name +state +queues +current jobs +done +failed +heartbeat *$", out, re.M), out
    assert re.search(r"^w+ +idle +q+ +- +12 +3 +\d+s ago *$", out, re.M), out
    assert "".join(re.findall(r"^(w+) ", out, re.M)) == "w" * 90


def test_a_workers_stopped_jobs_are_counted_apart_from_its_failures(run: Run, db: Backend) -> None:
    db.workers_register(_worker("w-clean", ("default",), jobs_done=5, jobs_failed=2))
    out = run("info", env={"COLUMNS": "120"}).stdout
    assert "stopped" not in out  # a column only when some worker has stopped jobs
    assert re.search(r"^w-clean +idle +default +- +5 +2 +\d+s ago *$", out, re.M), out
    db.workers_register(_worker("w-stopped", ("default",), jobs_done=6, jobs_failed=3, jobs_stopped=2))
    out = run("info", env={"COLUMNS": "120"}).stdout
    assert re.search(r"^name +state +queues +current jobs +done +failed +stopped +heartbeat *$", out, re.M), out
    assert re.search(r"^w-clean +idle +default +- +5 +2 +0 +\d+s ago *$", out, re.M), out
    assert re.search(r"^w-stopped +idle +default +- +6 +1 +2 +\d+s ago *$", out, re.M), out  # failed by themselves: 1
    (data,) = [w for w in json.loads(run("info", "--json").stdout)["workers"] if w["name"] == "w-stopped"]
    assert (data["jobs_failed"], data["jobs_stopped"]) == (3, 2)  # RQ's failed_job_count, and of it the stopped


def test_queue_filter_keeps_that_queue_and_its_workers(run: Run, db: Backend) -> None:
    _fill(db)
    data = json.loads(run("info", "--queue", "emails", "--queue", "idle-queue", "--json").stdout)
    assert [q["name"] for q in data["queues"]] == ["emails", "idle-queue"]
    assert data["queues"][1]["total"] == 0
    assert [w["name"] for w in data["workers"]] == ["w-emails"]


def test_an_empty_store(run: Run, db: Backend) -> None:
    assert json.loads(run("info", "--json").stdout) == {
        "queues": [],
        "workers": [],
        "worker_health_status": "degraded",
        "unserved_queues": [],
        "last_cleanup": None,
        "cron": [],
    }
    out = run("info").stdout
    assert "no jobs" in out
    assert "no workers" in out
    assert "Last cleanup: never" in out
    assert "Periodic jobs" not in out


def test_the_last_cleanup_is_shown(run: Run, db: Backend) -> None:
    run("cleanup")
    assert json.loads(run("info", "--json").stdout)["last_cleanup"].endswith("Z")
    assert re.search(r"Last cleanup: \d+s ago", run("info").stdout)


def test_a_bad_queue_name_is_status_2(run: Run) -> None:
    assert_user_error(run("info", "--queue", " x"), 2, "must not contain spaces at its ends")


def test_deferred_jobs_get_their_column_when_there_are_some(run: Run, db: Backend) -> None:
    parent = put_job(db)
    assert "deferred" not in run("info").stdout.split("Worker health")[0]  # (the footer names the file)
    put_job(db, status=JobStatus.QUEUED, depends_on=(parent.id,))
    data = json.loads(run("info", "--json").stdout)
    assert data["queues"][0]["counts"]["deferred"] == 1
    assert "deferred" in run("info").stdout


def test_jobs_queued_where_no_worker_serves_say_to_start_one(run: Run, db: Backend, db_url: str) -> None:
    # the beginner who enqueued and never started a worker, or started it on another queue
    put_job(db, queue="emails", status="queued")
    put_job(db, queue="reports", status="queued")
    put_job(db, queue="default", status="queued")
    db.workers_register(_worker("w-default", ("default",)))
    out = run("info", env={"COLUMNS": "400"}).stdout
    assert (
        "Jobs are queued in 'emails', 'reports' and no worker serves them: start one with "
        f"`conveyor worker emails reports -u {db_url}`"  # the store it was told of, as info was
    ) in out
    from_env = run("info", url=None, env={"COLUMNS": "400", "CONVEYOR_URL": db_url}).stdout
    assert "start one with `conveyor worker emails reports`" in from_env  # the worker reads CONVEYOR_URL too
    assert json.loads(run("info", "--json").stdout)["unserved_queues"] == ["emails", "reports"]
    db.workers_register(_worker("w-rest", ("emails", "reports")))
    assert "no worker serves" not in run("info").stdout
    assert json.loads(run("info", "--json").stdout)["unserved_queues"] == []


def test_each_periodic_job_is_a_row_with_its_next_and_last_tick(run: Run, db: Backend) -> None:
    now = time.time()
    db.cron_publish([
        cron_record("report", schedule="0 9 * * *", timezone="UTC", last_seen=now - 30),
        cron_record("cleanup", schedule_kind="interval", schedule="600", queue="default", job_type="app.cleanup",
                    scheduler="old-host.7.cafe", last_seen=now - 3600),
    ])  # fmt: skip
    db.cron_enqueue("report", now - 7200, make_record(queue="reports"), now)
    out = run("info").stdout
    table = out[out.index("Periodic jobs") :].splitlines()
    cleanup = next(line for line in table if line.startswith("cleanup"))
    pattern = r"cleanup +app.cleanup +default +every 600 s +in \d+(s|m) +not yet +1h ago stale"
    assert re.fullmatch(pattern, cleanup.rstrip()), cleanup
    report = next(line for line in table if line.startswith("report"))
    pattern = r"report +myapp.jobs.report +reports +0 9 \* \* \* \(UTC\) +in \d+(h|m|s) +2h ago +30s ago"
    assert re.fullmatch(pattern, report.rstrip()), report
    data = json.loads(run("info", "--json").stdout)["cron"]
    assert [(entry["name"], entry["stale"], entry["last_tick"] is not None) for entry in data] == [
        ("cleanup", True, False), ("report", False, True),
    ]  # fmt: skip
    assert data[1]["next_tick"].endswith("Z") and data[1]["host"] == "host-a"
    assert [entry["name"] for entry in json.loads(run("info", "-q", "reports", "--json").stdout)["cron"]] == ["report"]
