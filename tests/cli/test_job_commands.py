"""``conveyor requeue``, ``cancel`` and ``stop``: steering stored jobs, and their errors."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from conveyor import Queue
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.testing import make_record
from waiting import wait_until

from .conftest import Run, assert_user_error, conveyor_cmd, put_job, subprocess_env


def _status(db: Backend, job_id: str) -> JobStatus:
    (record,) = db.jobs_get([job_id])
    assert record is not None
    return record.status


# -- requeue -------------------------------------------------------------------------------
def test_requeue_named_failed_jobs(run: Run, db: Backend) -> None:
    failed = put_job(db, status="failed")
    stopped = put_job(db, status="stopped")
    other = put_job(db, status="failed")
    result = run("requeue", failed.id, stopped.id)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Requeued 2 jobs from the failed registry of queue 'default'"
    assert [_status(db, j.id) for j in (failed, stopped, other)] == [JobStatus.QUEUED] * 2 + [JobStatus.FAILED]


def test_requeue_all_takes_every_failed_and_stopped_job_of_the_queue_only(run: Run, db: Backend) -> None:
    mine = [put_job(db, queue="q", status=s) for s in ("failed", "stopped", "failed")]
    canceled = put_job(db, queue="q", status="canceled")
    elsewhere = put_job(db, queue="other", status="failed")
    result = run("requeue", "--queue", "q", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["queue"], data["requeued"]) == ("q", 3)
    assert sorted(data["job_ids"]) == sorted(j.id for j in mine)
    assert _status(db, canceled.id) is JobStatus.CANCELED
    assert _status(db, elsewhere.id) is JobStatus.FAILED


def test_requeue_all_with_nothing_failed(run: Run, db: Backend) -> None:
    result = run("requeue", "--all")
    assert result.exit_code == 0
    assert result.stdout.strip() == "Requeued 0 jobs from the failed registry of queue 'default'"


def test_requeue_an_unknown_id_requeues_nothing(run: Run, db: Backend) -> None:
    failed = put_job(db, status="failed")
    assert_user_error(run("requeue", failed.id, "missing"), 1, "Job missing not found")
    assert _status(db, failed.id) is JobStatus.FAILED


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"status": "finished"}, "it is finished, not failed or stopped"),
        ({"status": "canceled"}, "it is canceled, not failed or stopped"),
        ({"status": "failed", "queue": "other"}, "belongs to queue 'other', not 'default'"),
    ],
)
def test_requeue_a_job_outside_the_failed_registry_is_status_1(
    run: Run, db: Backend, fields: dict[str, str], fragment: str
) -> None:
    job = put_job(db, **fields)
    assert_user_error(run("requeue", job.id), 1, fragment)
    assert _status(db, job.id).value == fields["status"]


@pytest.mark.parametrize("args", [[], ["some-id", "--all"]])
def test_requeue_needs_ids_or_all_but_not_both(run: Run, args: list[str]) -> None:
    assert_user_error(run("requeue", *args), 2, "give job ids or --all (not both)")


# -- cancel --------------------------------------------------------------------------------
def test_cancel_a_queued_job(run: Run, db: Backend) -> None:
    job = put_job(db)
    result = run("cancel", job.id)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Canceled job {job.id}, which was queued"
    assert _status(db, job.id) is JobStatus.CANCELED


def test_cancel_a_running_job_tells_its_worker_json(run: Run, db: Backend) -> None:
    job = put_job(db, status="started")
    result = run("cancel", job.id, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"job_id": job.id, "status": "canceled", "previous_status": "started"}
    (record,) = db.jobs_get([job.id])
    assert record is not None and record.stop_requested


def test_cancel_with_enqueue_dependents_releases_them(run: Run, db: Backend) -> None:
    parent = put_job(db)
    child = put_job(db, depends_on=(parent.id,))
    assert _status(db, child.id) is JobStatus.DEFERRED
    assert run("cancel", parent.id, "--enqueue-dependents").exit_code == 0
    assert _status(db, child.id) is JobStatus.QUEUED


def test_cancel_an_unknown_job_is_status_1(run: Run) -> None:
    assert_user_error(run("cancel", "missing"), 1, "Job missing not found")


def test_cancel_an_ended_job_is_status_1(run: Run, db: Backend) -> None:
    job = put_job(db, status="finished")
    result = run("cancel", job.id)
    assert_user_error(result, 1, job.id)
    assert _status(db, job.id) is JobStatus.FINISHED


# -- stop ----------------------------------------------------------------------------------
def test_stop_a_running_job(run: Run, db: Backend) -> None:
    job = put_job(db, status="started")
    result = run("stop", job.id)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Stop requested for job {job.id}"
    assert db.stop_requests("test-worker") == [job.id]


def test_stop_json(run: Run, db: Backend) -> None:
    job = put_job(db, status="started")
    assert json.loads(run("stop", job.id, "--json").stdout) == {"job_id": job.id, "stop_requested": True}


def test_stop_a_job_that_is_not_running_is_status_1(run: Run, db: Backend) -> None:
    job = put_job(db)
    assert_user_error(run("stop", job.id), 1, f"Job {job.id} is not running (status queued)")


def test_stop_an_unknown_job_is_status_1(run: Run) -> None:
    assert_user_error(run("stop", "missing"), 1, "Job missing not found")


def test_ctrl_c_during_requeue_all_says_how_far_it_got(db: Backend, db_url: str) -> None:
    now = time.time()
    total = 100_000  # enough that the requeue is still going when the signal arrives
    for _ in range(0, total, 10_000):
        db.jobs_enqueue([make_record(queue="bulk", status=JobStatus.FAILED, now=now) for _ in range(10_000)], now)
    bulk = Queue("bulk", connection=db)
    child = subprocess.Popen(
        conveyor_cmd("requeue", "--queue", "bulk", "--all", "-u", db_url), env=subprocess_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as in a terminal: a child of a background shell would start with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (one call, no lock)
    )  # fmt: skip
    wait_until(lambda: bulk.count > 0, message="the first chunk requeued")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    (line,) = err.strip().splitlines()
    assert line.startswith("Error: interrupted: ") and "run the command again" in line, line
    reported = int(line.removeprefix("Error: interrupted: ").split()[0])
    assert 0 < reported <= bulk.count < total  # the rest are still failed, and it said so
    assert len(bulk.failed_job_registry) == total - bulk.count
