"""The Batch API: create, hold until the start, reschedule, cancel, complete with callbacks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Batch, BatchStatus, Job, JobStatus, Queue, Worker
from conveyor.backends.base import Backend
from conveyor.clock import FrozenClock
from conveyor.exceptions import InvalidBatchOperation, InvalidJobError, NoSuchBatchError

LATER = datetime(2031, 1, 1, 9, tzinfo=UTC)


def specs(count: int, ledger: Path) -> list:
    return [Queue.prepare_data(jobfuncs.record_run, args=(str(ledger), f"job{i}")) for i in range(count)]


def work(backend: Backend) -> None:
    Worker(["default"], connection=backend).work(burst=True)


def test_a_batch_runs_then_its_callback_gets_the_batch_id(backend: Backend, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    batch = Batch.create(specs(3, ledger), name="campaign", on_complete=jobfuncs.echo, connection=backend,
                         user_id="alice")  # fmt: skip
    assert (batch.status, batch.total, batch.name, batch.user_id) == (BatchStatus.RUNNING, 3, "campaign", "alice")
    work(backend)
    batch.refresh()
    assert batch.status is BatchStatus.COMPLETED
    assert batch.counts == {JobStatus.FINISHED: 3}
    assert batch.progress == 1.0
    callback = Job.fetch(batch.on_complete_job_id, connection=backend)
    assert (callback.get_status(), callback.result) == (JobStatus.FINISHED, batch.id)


def test_a_scheduled_batch_waits_for_its_start(backend: Backend, tmp_path: Path) -> None:
    clock = FrozenClock((LATER - timedelta(hours=1)).timestamp())
    batch = Batch.create(specs(2, tmp_path / "l"), scheduled_start=LATER, connection=backend, clock=clock)
    assert (batch.status, batch.scheduled_start) == (BatchStatus.SCHEDULED, LATER)
    assert batch.counts == {JobStatus.SCHEDULED: 2}
    batch.reschedule(LATER + timedelta(minutes=5))
    assert Batch.fetch(batch.id, connection=backend).scheduled_start == LATER + timedelta(minutes=5)
    batch.start()
    assert batch.status is BatchStatus.RUNNING
    batch.refresh()
    assert batch.counts == {JobStatus.QUEUED: 2}
    with pytest.raises(InvalidBatchOperation):
        batch.reschedule(LATER + timedelta(hours=1))


def test_the_worker_starts_a_batch_when_its_time_comes(backend: Backend, tmp_path: Path) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    clock = FrozenClock((past - timedelta(minutes=1)).timestamp())
    batch = Batch.create(specs(2, tmp_path / "l"), scheduled_start=past, connection=backend, clock=clock)
    assert batch.status is BatchStatus.SCHEDULED
    work(backend)  # the worker's clock is past the start: its schedule pass releases the batch
    batch.refresh()
    assert (batch.status, batch.counts) == (BatchStatus.COMPLETED, {JobStatus.FINISHED: 2})


def test_cancel(backend: Backend, tmp_path: Path) -> None:
    batch = Batch.create(specs(4, tmp_path / "l"), scheduled_start=LATER, connection=backend)
    assert batch.cancel() == 4
    assert batch.status is BatchStatus.CANCELED
    with pytest.raises(InvalidBatchOperation):
        batch.cancel()


def test_listing_newest_first(backend: Backend, tmp_path: Path) -> None:
    first = Batch.create(specs(1, tmp_path / "l"), connection=backend, user_id="alice")
    second = Batch.create(specs(1, tmp_path / "l"), connection=backend, user_id="bob")
    assert [b.id for b in Batch.list(backend)] == [second.id, first.id]
    assert [b.id for b in Batch.list(backend, user_id="alice")] == [first.id]


@pytest.mark.parametrize(
    ("count", "options", "fragment"),
    [
        (0, {}, "at least one job"),
        (3, {"max_jobs": 2}, "at most 2 jobs"),
        (1, {"scheduled_start": datetime(9999, 12, 31, tzinfo=UTC)}, "at most 100 years ahead"),
    ],
)
def test_bad_batches_are_refused_and_nothing_is_stored(
    backend: Backend, tmp_path: Path, count: int, options: dict, fragment: str
) -> None:
    with pytest.raises(InvalidJobError, match=fragment):
        Batch.create(specs(count, tmp_path / "l"), connection=backend, **options)
    assert Batch.list(backend) == []
    assert backend.counts() == {}


def test_jobs_with_their_own_schedule_or_dependencies_are_refused(backend: Backend) -> None:
    parent = Queue(connection=backend).enqueue(jobfuncs.noop)
    with pytest.raises(InvalidJobError, match="depends_on"):
        Batch.create([Queue.prepare_data(jobfuncs.noop, depends_on=parent)], connection=backend)
    with pytest.raises(NoSuchBatchError):
        Batch.fetch("nope", connection=backend)


def test_a_batchs_jobs_in_the_order_given(backend: Backend, tmp_path: Path) -> None:
    batch = Batch.create(specs(3, tmp_path / "l"), on_complete=jobfuncs.echo, connection=backend)
    jobs = batch.get_jobs()
    assert [job.args[1] for job in jobs] == ["job0", "job1", "job2"]  # the callback is not among them
    assert batch.get_job_ids() == [job.id for job in jobs]
    jobs[1].delete()
    assert batch.get_job_ids() == [jobs[0].id, jobs[2].id]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        (5, "Batch.create takes a list of jobs (Queue.prepare_data(...) items), got int 5"),
        ("ab", "Batch.create takes a list of jobs (Queue.prepare_data(...) items), got str 'ab'"),
        ([Queue.prepare_data(jobfuncs.noop), 1], "items or jobs from Job.create, got int"),
    ],
)
def test_what_is_not_a_list_of_jobs_is_refused_saying_so(backend: Backend, jobs: object, message: str) -> None:
    # they were a TypeError or an AttributeError from inside
    with pytest.raises(InvalidJobError, match=re.escape(message)):
        Batch.create(jobs, connection=backend)  # type: ignore[arg-type]
    assert backend.counts() == {}
