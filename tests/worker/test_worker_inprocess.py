"""Worker behaviour, with the worker running in the test's own process (burst mode)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Job, JobStatus, Queue, Retry, Worker
from conveyor.backends.base import Backend
from conveyor.clock import FrozenClock
from conveyor.exceptions import BackendError, ConfigurationError
from conveyor.testing import make_job
from conveyor.types import Settlement
from conveyor.worker import claim_loop
from conveyor.worker.running import Running
from waiting import wait_until


def run_burst(queue: Queue, **options: object) -> bool:
    return Worker([queue], connection=queue.connection, **options).work(burst=True)  # type: ignore[arg-type]


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def test_runs_sync_and_async_jobs_and_keeps_results(queue: Queue) -> None:
    sync_job = queue.enqueue(jobfuncs.add, 2, 3)
    async_job = queue.enqueue(jobfuncs.async_add, 4, 5)
    assert run_burst(queue) is True
    assert sync_job.get_status() is JobStatus.FINISHED and sync_job.result == 5
    assert async_job.get_status() is JobStatus.FINISHED and async_job.result == 9
    assert sync_job.started_at is not None and sync_job.ended_at is not None
    assert sync_job.ended_at >= sync_job.started_at
    assert sync_job.worker_name is not None
    assert sync_job in queue.finished_job_registry


def test_burst_with_nothing_to_do_returns_false(queue: Queue) -> None:
    assert run_burst(queue) is False


def test_current_job_meta_and_progress_from_inside_the_job(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.use_current_job, 7)
    run_burst(queue)
    job.refresh()
    assert job.result == {"id": job.id, "value": 7}
    assert job.get_meta() == {"handled_by": "test"}
    assert job.progress == 0.5
    assert job.metrics == {"items_processed": 50, "total_items": 100}


def test_higher_priority_first_then_fifo(queue: Queue, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger")
    for tag, priority in [("low1", 0), ("high1", 5), ("low2", 0), ("high2", 5), ("mid", 2)]:
        queue.enqueue(jobfuncs.record_run, ledger, tag, priority=priority)
    run_burst(queue)
    order = [line.split()[0] for line in Path(ledger).read_text().splitlines()]
    assert order == ["high1", "high2", "mid", "low1", "low2"]


def test_queues_are_served_in_the_order_given(backend: Backend, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger")
    low, high = Queue("low", connection=backend), Queue("high", connection=backend)
    low.enqueue(jobfuncs.record_run, ledger, "low")
    high.enqueue(jobfuncs.record_run, ledger, "high")
    Worker([high, low], connection=backend).work(burst=True)
    assert [line.split()[0] for line in Path(ledger).read_text().splitlines()] == ["high", "low"]


def test_failure_keeps_traceback_and_lands_in_failed_registry(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.fail, "bad input")
    run_burst(queue)
    assert job.get_status() is JobStatus.FAILED
    assert job.is_failed
    assert "ValueError: bad input" in (job.exc_info or "")
    assert "Traceback" in (job.exc_info or "")
    assert job.id in queue.failed_job_registry.get_job_ids()


def test_a_traceback_that_is_not_text_fails_the_job_and_the_worker_goes_on(queue: Queue) -> None:
    """An error message naming a file with a byte that is not UTF-8 (os.listdir's names
    hold it as a lone surrogate) made the settle raise UnicodeEncodeError: the worker
    died, the job stayed started and, recovered, killed the next worker too."""
    not_utf8 = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    job = queue.enqueue(jobfuncs.fail, not_utf8, retry=Retry(max=1))
    after = queue.enqueue(jobfuncs.add, 1, 1)
    run_burst(queue)
    job.refresh()
    assert job.get_status() is JobStatus.FAILED and job.retry_count == 1, "retried, then failed"
    assert "ValueError: report-\\udcff.csv" in (job.exc_info or ""), "the byte shown as its escape"
    assert after.get_status() is JobStatus.FINISHED, "the worker went on"


def test_retries_run_again_then_fail(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.fail, retry=Retry(max=2))
    run_burst(queue)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.retry_count == 2


def test_retry_interval_schedules_the_next_attempt(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    job = queue.enqueue(jobfuncs.fail, retry=Retry(max=3, interval=[10, 60]))
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    job.refresh()
    assert job.status is JobStatus.SCHEDULED
    assert job.retry_count == 1
    assert job.record.scheduled_for == pytest.approx(clock.now() + 10)
    assert job in queue.scheduled_job_registry
    clock.advance(11)
    Worker([queue], connection=backend, clock=clock).work(burst=True)  # promoted at start, then run
    job.refresh()
    assert job.status is JobStatus.SCHEDULED and job.retry_count == 2
    assert job.record.scheduled_for == pytest.approx(clock.now() + 60)


def test_unknown_function_fails_the_job_and_the_worker_goes_on(queue: Queue) -> None:
    missing = queue.enqueue("jobfuncs.does_not_exist")
    no_module = queue.enqueue("no_such_module_xyz.func")
    fine = queue.enqueue(jobfuncs.add, 1, 1)
    run_burst(queue)
    assert missing.get_status() is JobStatus.FAILED
    assert "does_not_exist" in (missing.exc_info or "")
    assert no_module.get_status() is JobStatus.FAILED
    assert "no_such_module_xyz" in (no_module.exc_info or "")
    assert fine.get_status() is JobStatus.FINISHED


def test_result_the_serializer_cannot_encode_fails_the_job_without_a_retry(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.unserializable_result, retry=Retry(max=2))
    run_burst(queue)
    assert job.get_status() is JobStatus.FAILED, "another run would repeat its effects for the same kind of value"
    assert job.retry_count == 0
    assert "cannot be encoded" in (job.exc_info or "")


def test_dependents_wait_for_their_parent(queue: Queue, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger")
    parent = queue.enqueue(jobfuncs.record_run, ledger, "parent", priority=-1)
    child = queue.enqueue(jobfuncs.record_run, ledger, "child", depends_on=parent, priority=10)
    assert child.get_status() is JobStatus.DEFERRED
    assert child in queue.deferred_job_registry
    run_burst(queue)
    assert child.get_status() is JobStatus.FINISHED
    assert [line.split()[0] for line in Path(ledger).read_text().splitlines()] == ["parent", "child"]


def test_dependents_of_a_failed_parent_stay_deferred_unless_failures_allowed(queue: Queue) -> None:
    parent = queue.enqueue(jobfuncs.fail)
    strict = queue.enqueue(jobfuncs.add, 1, 2, depends_on=parent)
    lenient = queue.enqueue(jobfuncs.add, 3, 4, depends_on=[parent], allow_dependency_failures=True)
    run_burst(queue)
    assert parent.get_status() is JobStatus.FAILED
    assert strict.get_status() is JobStatus.DEFERRED
    assert lenient.get_status() is JobStatus.FINISHED


def test_timeout_interrupts_a_sleeping_sync_job(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.sleep, 30, timeout=0.3)
    run_burst(queue)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.status_reason == "timeout"
    assert "JobTimeoutException" in (job.exc_info or "")


def test_timeout_interrupts_a_cpu_bound_sync_job(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.busy_loop, 30, timeout="1s")
    run_burst(queue)
    assert job.get_status() is JobStatus.FAILED
    assert job.status_reason == "timeout"


def test_timeout_cancels_an_async_job(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.async_sleep, 30, timeout=0.3)
    run_burst(queue)
    assert job.get_status() is JobStatus.FAILED
    assert job.status_reason == "timeout"


def test_timeout_reaches_a_sync_job_in_the_thread_pool(queue: Queue) -> None:
    slow = queue.enqueue(jobfuncs.busy_loop, 30, timeout=0.3)
    quick = queue.enqueue(jobfuncs.add, 1, 2)
    run_burst(queue, concurrency=2)
    assert slow.get_status() is JobStatus.FAILED
    assert slow.status_reason == "timeout"
    assert quick.get_status() is JobStatus.FINISHED


def test_timed_out_job_is_retried_when_retries_remain(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.sleep, 30, timeout=0.2, retry=Retry(max=1))
    run_burst(queue)
    job.refresh()
    assert job.status is JobStatus.FAILED and job.retry_count == 1


def test_concurrency_runs_jobs_at_the_same_time(queue: Queue, tmp_path: Path) -> None:
    # each waits for the ten to have started: they end only if all ten ran at once
    jobs = [queue.enqueue(jobfuncs.async_meet, str(tmp_path), 10) for _ in range(10)]
    worker = Worker([queue], connection=queue.connection, concurrency=10)
    worker.work(burst=True)
    assert [job.return_value(refresh=True) for job in jobs] == [True] * 10


def test_queued_job_past_its_ttl_is_canceled_as_expired(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    job = queue.enqueue(jobfuncs.add, 1, 2, ttl=10)
    clock.advance(11)
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    job.refresh()
    assert job.status is JobStatus.CANCELED
    assert job.status_reason == "expired"
    assert job in queue.canceled_job_registry


def test_result_ttl_zero_deletes_the_job_and_minus_one_keeps_it(queue: Queue) -> None:
    gone = queue.enqueue(jobfuncs.add, 1, 2, result_ttl=0)
    kept = queue.enqueue(jobfuncs.add, 1, 2, result_ttl=-1)
    run_burst(queue)
    assert not Job.exists(gone.id, connection=queue.connection)
    kept.refresh()
    assert kept.status is JobStatus.FINISHED and kept.record.keep_until is None


def test_results_expire_after_result_ttl(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    job = queue.enqueue(jobfuncs.add, 1, 2, result_ttl=100)
    failed = queue.enqueue(jobfuncs.fail, failure_ttl=300)
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    clock.advance(101)
    Worker([queue], connection=backend, clock=clock).work(burst=True)  # maintenance at start
    assert not Job.exists(job.id, connection=backend)
    assert Job.exists(failed.id, connection=backend)
    clock.advance(300)
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    assert not Job.exists(failed.id, connection=backend)


def test_max_jobs_stops_the_worker(queue: Queue) -> None:
    for _ in range(5):
        queue.enqueue(jobfuncs.noop)
    Worker([queue], connection=queue.connection).work(burst=True, max_jobs=2)
    assert len(queue.finished_job_registry) == 2
    assert queue.count == 3


def test_scheduled_job_runs_once_due(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    job = queue.enqueue_in(timedelta(seconds=30), jobfuncs.add, 1, 2)
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    assert job.get_status() is JobStatus.SCHEDULED
    clock.advance(30)
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    assert job.get_status() is JobStatus.FINISHED


def test_worker_registers_and_unregisters(queue: Queue) -> None:
    worker = Worker([queue], connection=queue.connection, name="w-test")
    worker.work(burst=True)
    assert [w.name for w in queue.connection.workers_list()] == []
    worker.register()
    (record,) = queue.connection.workers_list()
    assert record.name == "w-test" and record.queues == ("default",)


def test_a_worker_off_the_main_thread_still_times_jobs_out(queue: Queue) -> None:
    slow = queue.enqueue(jobfuncs.busy_loop, 30, timeout=0.3)
    quick = queue.enqueue(jobfuncs.add, 1, 2)
    thread = threading.Thread(target=run_burst, args=(queue,))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert slow.get_status() is JobStatus.FAILED and slow.status_reason == "timeout"
    assert quick.get_status() is JobStatus.FINISHED


class FailingBackend:
    """A real backend whose claims and settles fail a few times, as a store that goes away."""

    def __init__(
        self, backend: Backend, claim_failures: int, settle_failures: int, error: type[Exception] = BackendError
    ) -> None:
        self._backend = backend
        self.failures = {"jobs_claim": claim_failures, "jobs_settle": settle_failures}
        self.error = error

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._backend, name)
        if self.failures.get(name, 0) <= 0:
            return attribute

        def fail(*args: object, **kwargs: object) -> object:
            self.failures[name] -= 1
            raise self.error(f"{name} failed (injected)")

        return fail


def test_worker_rides_out_a_failing_backend_and_loses_no_outcome(backend: Backend) -> None:
    jobs = [Queue(connection=backend).enqueue(jobfuncs.add, i, i) for i in range(5)]
    flaky = FailingBackend(backend, claim_failures=2, settle_failures=2)
    Worker(["default"], connection=flaky).work(burst=True)  # type: ignore[arg-type]
    assert flaky.failures == {"jobs_claim": 0, "jobs_settle": 0}
    assert [j.get_status() for j in jobs] == [JobStatus.FINISHED] * 5
    assert [j.result for j in jobs] == [0, 2, 4, 6, 8]


@pytest.mark.parametrize(
    ("canceller", "victim", "concurrency"),
    [
        (jobfuncs.cancel_other, jobfuncs.record_run, 1),
        (jobfuncs.cancel_other, jobfuncs.record_run, 2),
        (jobfuncs.async_cancel_other, jobfuncs.async_add, 1),
        (jobfuncs.async_cancel_other, jobfuncs.async_add, 2),
    ],
)
def test_a_job_canceled_after_its_claim_but_before_it_starts_never_runs(
    queue: Queue, tmp_path: Path, canceller: object, victim: object, concurrency: int
) -> None:
    """The canceller and its victim are claimed in one batch (quick jobs before them grow
    it); the victim waits for a slot (busy with the canceller, and with a blocker when
    there are two) long enough for the worker to see the cancel: it must never start."""
    ledger = str(tmp_path / "ledger")
    quick = queue.enqueue_many([Queue.prepare_data(jobfuncs.noop) for _ in range(50)])  # grows the claim batch
    victim_id = "victim"
    if concurrency == 2:
        queue.enqueue(jobfuncs.sleep, 1.5)
    queue.enqueue(canceller, victim_id, 1.0)  # type: ignore[arg-type]
    args = (ledger, "victim") if victim is jobfuncs.record_run else (1, 2)
    queue.enqueue(victim, *args, job_id=victim_id)  # type: ignore[arg-type]
    after = queue.enqueue(jobfuncs.add, 1, 2)
    run_burst(queue, concurrency=concurrency)
    assert Job.fetch(victim_id, connection=queue.connection).status is JobStatus.CANCELED
    assert not Path(ledger).exists()
    assert after.get_status() is JobStatus.FINISHED
    assert all(j.get_status() is JobStatus.FINISHED for j in quick)


def test_an_async_jobs_own_cancelled_error_is_a_failure_not_a_stop(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.raise_cancelled, retry=Retry(max=1))
    run_burst(queue)
    job.refresh()
    assert job.status is JobStatus.FAILED and job.retry_count == 1
    assert "CancelledError" in (job.exc_info or "")


def test_meta_the_worker_cannot_decode_fails_only_that_job(backend: Backend) -> None:
    bad = make_job(backend, func_name="jobfuncs.noop", meta=b"\x80 not json")
    good = Queue(connection=backend).enqueue(jobfuncs.add, 1, 2)
    Worker(["default"], connection=backend).work(burst=True)
    (record,) = backend.jobs_get([bad.id])
    assert record is not None and record.status is JobStatus.FAILED
    assert "cannot decode the meta" in (record.exc_info or "")
    assert good.get_status() is JobStatus.FINISHED


def test_a_fetched_job_that_ran_can_be_enqueued_again(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 2, 3)
    run_burst(queue)
    again = queue.enqueue_job(Job.fetch(job.id, connection=queue.connection))
    assert again.get_status() is JobStatus.QUEUED and again.result is None and again.started_at is None
    run_burst(queue)
    assert again.get_status() is JobStatus.FINISHED and again.result == 5


def test_a_running_worker_deletes_expired_results_long_before_its_maintenance_pass(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    job = queue.enqueue(jobfuncs.add, 1, 2, result_ttl=100)
    worker = Worker([queue], connection=backend, clock=clock, poll_interval=0.05, maintenance_interval=3600)
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: job.get_status() is JobStatus.FINISHED, message="the job to finish")
        clock.advance(101)
        wait_until(lambda: not Job.exists(job.id, connection=backend), message="the expired result to go")
    finally:
        worker.request_stop()
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_a_worker_that_stops_leaves_retention_to_the_others_at_once(queue: Queue, tmp_path: Path) -> None:
    backend = queue.connection
    started, release = tmp_path / "started", tmp_path / "release"
    queue.enqueue(jobfuncs.hold_until_released, str(started), str(release))
    worker = Worker([queue], connection=backend, poll_interval=0.05)
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(started.exists, message="the job to start")
        # a probe that would hold the lock until now: it takes nothing, only asks
        wait_until(lambda: not backend.maintenance_claim("probe", time.time(), time.time()),
                   message="the worker's retention to take the maintenance lock")  # fmt: skip
    finally:
        release.touch()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert backend.maintenance_claim("next-worker", time.time(), time.time() + 60), "given up as the worker stopped"


def test_a_job_holding_the_gil_past_a_heartbeat_is_reported(queue: Queue, caplog: pytest.LogCaptureFixture) -> None:
    job = queue.enqueue(jobfuncs.hold_the_gil, 1.0)
    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        run_burst(queue, lease_ttl=1, poll_interval=0.05)
    assert job.get_status() is JobStatus.FINISHED
    paused = [r.getMessage() for r in caplog.records if "housekeeping thread could not run" in r.getMessage()]
    assert any(job.id in message and "pool='processes'" in message for message in paused)


def test_jobs_claimed_ahead_go_back_to_their_place_when_a_slow_job_holds_them(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every batch counts as quick, so the claims grow on a loaded machine too (where
    # starting a noop can take over 2 ms, and one slow batch sets the claims back to one)
    monkeypatch.setattr(claim_loop, "QUICK_JOB_SECONDS", 60.0)
    queue.enqueue_many([Queue.prepare_data(jobfuncs.noop) for _ in range(300)])  # the claims grow to 100
    release = tmp_path / "release"
    slow = [queue.enqueue(jobfuncs.hold_until_released, str(tmp_path / f"started-{n}"), str(release)) for n in range(5)]
    worker = Worker([queue], connection=queue.connection, concurrency=1)
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until((tmp_path / "started-0").exists, message="the first slow job to start")

        def given_back() -> bool:
            records = queue.connection.jobs_get([job.id for job in slow[1:]])
            return all(r is not None and (r.status, r.status_reason) == (JobStatus.QUEUED, "released") for r in records)

        # claimed with the first (the claims had grown), then given back while it runs
        wait_until(given_back, message="the jobs claimed ahead to be given back")
        assert queue.get_job_ids()[:4] == [job.id for job in slow[1:]], "back at the front, in their order"
    finally:
        release.touch()
        thread.join(60)
    assert [job.get_status(refresh=True) for job in slow] == [JobStatus.FINISHED] * 5
    assert queue.connection.counts()["default"].get(JobStatus.FINISHED) == 305


def test_a_job_given_back_and_claimed_again_at_once_stays_held(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    queue.enqueue(jobfuncs.noop)
    worker = Worker([queue], connection=queue.connection)
    (first,) = worker._claim(1)
    again: list[Running] = []
    settle = queue.connection.jobs_settle

    def settle_then_claim(settlements: list[Settlement], now: float) -> list[bool]:
        applied = settle(settlements, now)
        again.extend(worker._claim(1))  # the loop's next claim, between the give-back and its bookkeeping
        return applied

    monkeypatch.setattr(queue.connection, "jobs_settle", settle_then_claim)
    assert worker.holdings.give_back_unstarted(time.monotonic() + 1) == 1
    assert [r.record.lease_token for r in worker.held()] == [again[0].record.lease_token], (
        "the new claim keeps its lease renewed"
    )
    assert again[0].record.lease_token != first.record.lease_token


def test_a_job_being_started_is_not_given_back_and_one_given_back_is_not_started(queue: Queue) -> None:
    record = queue.enqueue(jobfuncs.noop).record
    starting = Running(record)
    assert starting.start() and not starting.give_back(), "its arguments may take long to decode"
    waiting = Running(record)
    assert waiting.give_back() and not waiting.start()


def test_the_workers_listing_shows_what_a_worker_runs_within_a_second_not_a_heartbeat(
    queue: Queue, tmp_path: Path
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    job = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    worker = Worker([queue], connection=queue.connection, concurrency=2, lease_ttl=60)  # heartbeats every 20 s
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:

        def listed() -> tuple[str, tuple[str, ...]] | None:
            records = queue.connection.workers_list()
            return (records[0].state, records[0].current_job_ids) if records else None

        wait_until(lambda: marker.exists() and listed() == ("busy", (job.id,)), timeout=8, message="busy")
        release.touch()
        wait_until(lambda: listed() == ("idle", ()), timeout=8, message="idle, long before the next heartbeat")
    finally:
        release.touch()
        worker.request_stop()
        thread.join(30)


def test_work_takes_rqs_arguments(queue: Queue, capsys: pytest.CaptureFixture[str]) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2)
    worker = Worker([queue], connection=queue.connection, poll_interval=0.05)
    began = time.monotonic()
    ran = worker.work(logging_level="INFO", log_format="RQ-STYLE %(message)s", max_idle_time=0.3, with_scheduler=True)
    assert ran and job.get_status(refresh=True) is JobStatus.FINISHED, "not a burst: it ran until idle 0.3 s"
    assert time.monotonic() - began < 20
    err = capsys.readouterr().err
    assert "RQ-STYLE worker" in err and "no job for 0.3s (max_idle_time)" in err, err


@pytest.mark.parametrize(
    ("options", "says"),
    [({"dequeue_strategy": "round_robin"}, "dequeue_strategy 'round_robin' is not supported"),
     ({"max_idle_time": 0}, "max_idle_time must be a positive number"),
     ({"max_idle_time": float("nan")}, "max_idle_time must be a positive number"),
     ({"logging_level": "LOUD"}, "logging_level 'LOUD' is not a level")],
)  # fmt: skip
def test_work_refuses_what_it_cannot_do(queue: Queue, options: dict[str, object], says: str) -> None:
    handlers = list(logging.getLogger("conveyor").handlers)
    with pytest.raises(ConfigurationError, match=says):
        Worker([queue], connection=queue.connection).work(**options)  # type: ignore[arg-type]
    assert queue.connection.workers_list() == []
    assert logging.getLogger("conveyor").handlers == handlers, "no handler left behind"


def test_work_takes_only_burst_by_position(queue: Queue) -> None:
    with pytest.raises(TypeError):
        Worker([queue], connection=queue.connection).work(True, 2)  # type: ignore[misc]


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_job_whose_lease_ran_out_before_it_started_is_given_back_not_run(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: str
) -> None:
    """The worker paused between its claim and the start (SIGSTOP, a long GC): recovery
    gave the job to another worker meanwhile, so starting it here would run it twice."""
    clock = FrozenClock()
    queue = Queue(connection=backend, clock=clock)
    ledger = str(tmp_path / "ledger")
    job = queue.enqueue(jobfuncs.record_run, ledger, "paused", retry=Retry(max=1))
    claim = backend.jobs_claim

    def claim_then_pause(*args: object, **kwargs: object) -> list[object]:
        claimed = claim(*args, **kwargs)  # type: ignore[arg-type]
        if claimed:  # the pause: past the lease, then another worker recovers the job and takes it
            clock.advance(120)
            assert [r.job_id for r in backend.leases_recover(clock.now())] == [job.id]
            assert claim(["default"], "w-2", 1, "other", clock.now() + 60, clock.now()) != []
        return claimed

    monkeypatch.setattr(backend, "jobs_claim", claim_then_pause)
    Worker([queue], connection=backend, clock=clock, lease_ttl=60, pool=pool).work(burst=True)
    assert not Path(ledger).exists(), "it ran here too"
    (stored,) = backend.jobs_get([job.id])
    assert stored is not None and (stored.status, stored.worker_name) == (JobStatus.STARTED, "w-2")


def test_a_wait_for_jobs_that_fails_leaves_no_unretrieved_future(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With a job running, the worker waits for new ones on a thread; a store that fails
    that wait must not leave asyncio's 'Future exception was never retrieved' behind."""
    flaky = FailingBackend(backend, claim_failures=0, settle_failures=0)
    flaky.failures["wait_for_jobs"] = 3
    release = tmp_path / "release"
    job = Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(tmp_path / "started"), str(release))
    worker = Worker(["default"], connection=flaky, concurrency=2, poll_interval=0.05)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: flaky.failures["wait_for_jobs"] == 0, message="the waits to fail")
    finally:
        release.touch()
        wait_until(lambda: job.get_status(refresh=True) is JobStatus.FINISHED, message="the job to finish")
        worker.request_stop()
        thread.join(30)
    gc.collect()  # an unretrieved exception is reported when its future is collected
    assert "never retrieved" not in caplog.text


def test_an_idle_claim_waits_at_most_a_third_of_the_lease(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store reckons a waiting claim's lease from the wait's start: a wait as long as a
    30 s poll interval would hand over a job arriving late in it with its lease spent."""
    claim = backend.jobs_claim
    waits: list[float] = []
    worker = Worker(["default"], connection=backend, lease_ttl=3, poll_interval=30)

    def recording_claim(*args: object, **kwargs: object) -> list[object]:
        wait = kwargs.get("wait", args[7] if len(args) > 7 else 0.0)
        if wait:
            waits.append(float(wait))  # type: ignore[arg-type]
            worker.request_stop()
        return claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "jobs_claim", recording_claim)
    worker.work()
    assert waits and all(wait <= 1.0 for wait in waits), waits


def test_a_wait_for_jobs_that_fails_unexpectedly_is_logged_and_the_worker_goes_on(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not the store's failure (a bug, a descriptor select() refuses): the worker must
    not die of it, nor leave it unread."""
    flaky = FailingBackend(backend, claim_failures=0, settle_failures=0, error=ValueError)
    flaky.failures["wait_for_jobs"] = 3
    release = tmp_path / "release"
    queue = Queue(connection=backend)
    held = queue.enqueue(jobfuncs.hold_until_released, str(tmp_path / "started"), str(release))
    worker = Worker(["default"], connection=flaky, concurrency=2, poll_interval=0.05)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: flaky.failures["wait_for_jobs"] == 0, message="the waits to fail")
        release.touch()
        later = queue.enqueue(jobfuncs.add, 1, 2)
        wait_until(lambda: later.get_status(refresh=True) is JobStatus.FINISHED, message="a later job to run")
        # (the held job notices its release by polling: it may end after the later one)
        wait_until(lambda: held.get_status(refresh=True) is JobStatus.FINISHED, message="the held job to end")
        assert thread.is_alive()
    finally:
        release.touch()
        worker.request_stop()
        thread.join(30)
    gc.collect()
    assert "never retrieved" not in caplog.text
    assert "the wait for new jobs failed (wait_for_jobs failed (injected))" in caplog.text


def test_a_failed_run_is_logged_with_its_traceback_as_rq_does(queue: Queue, caplog: pytest.LogCaptureFixture) -> None:
    # the worker's log said nothing of a failure: only "stopped after 2 jobs"
    retried = queue.enqueue(jobfuncs.fail, "disk full", retry=Retry(max=1))
    finished = queue.enqueue(jobfuncs.add, 1, 2)
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        run_burst(queue)
    assert (retried.get_status(), finished.get_status()) == (JobStatus.FAILED, JobStatus.FINISHED)
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("job ")]
    assert [(level, message.splitlines()[0]) for level, message in logged] == [
        (logging.WARNING, f"job {retried.id} (jobfuncs.fail) failed (ValueError: disk full); retry 1 of 1 follows"),
        (logging.ERROR, f"job {retried.id} (jobfuncs.fail) failed"),
    ], "a finished run is not logged"
    assert logged[1][1].splitlines()[1:] == retried.exc_info.strip().splitlines(), "the whole traceback"


def test_a_job_that_began_and_ended_between_two_reports_reaches_the_counters_soon(queue: Queue) -> None:
    # /workers said jobs_done 0 until the next heartbeat (a third of the lease: here 100 s)
    worker = Worker([queue], lease_ttl=300.0)
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        wait_until(lambda: Worker.all(connection=queue.connection), message="the worker to register")
        job = queue.enqueue(jobfuncs.add, 1, 2)
        wait_until(lambda: job.get_status(refresh=True) is JobStatus.FINISHED, message="the job to finish")
        registered = wait_until(
            lambda: [w for w in Worker.all(connection=queue.connection) if w.successful_job_count == 1],
            timeout=30.0, message="the worker to report the job it ended",
        )  # fmt: skip
        assert registered[0].name == worker.name and registered[0].get_state() == "idle"
    finally:
        worker.request_stop()
        thread.join(30)
