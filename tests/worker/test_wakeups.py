"""No job waits out the poll interval while an idle worker could run it.

Every worker here polls every 30 s, and each job must start within 4 s of becoming
ready: a wake-up lost (never sent, taken by a worker that claims nothing, sent before
the wait that should have seen it) fails the test instead of slowing it. (4 s, not
more: on Redis an idle worker's wait comes back every 5 s, its longest block, and
claims again.) The jobs
become ready every way they can: enqueued one by one or many at once, promoted when
due, released by their dependency, retried, requeued, started with their batch, given
back by a stopping worker, recovered from a dead one, or free to start because the job
that held their limit slot ended, was deleted, canceled or stopped.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Batch, Job, JobStatus, Queue, Retry
from conveyor.backends.base import Backend
from conveyor.backends.redis import connection as redis_connection
from conveyor.command import send_stop_job_command
from waiting import wait_until

from .processes import start_worker, stop_process

POLL = 30.0
"""The idle workers' poll interval: a lost wake-up waits this out."""
PROMPT = 4.0
"""Seconds within which a job that became ready must start: well under POLL, and under
the longest block of a wait on Redis (see test_a_lost_wakeup_would_outlast_the_deadline)."""

Starter = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def workers(url: str) -> Iterator[Starter]:
    """Start worker processes (waiting for jobs POLL seconds at a time unless told); all are
    killed after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(queues: tuple[str, ...] = ("default",), **options: object) -> subprocess.Popen[bytes]:
        options.setdefault("poll_interval", POLL)
        options.setdefault("lease_ttl", 10 * POLL)  # an idle claim waits at most a third of the lease
        process = start_worker(url, queues, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


def test_a_lost_wakeup_would_outlast_the_deadline() -> None:
    assert redis_connection._LONGEST_BLOCK > PROMPT < POLL


def waiting_workers(backend: Backend) -> int:
    """Workers that a job made ready now would wake: on Redis, the clients blocked in
    their pop; on SQLite, the sockets bound (a worker binds its socket before its first
    claim, and a signal sent before its wait ends the wait at once)."""
    if backend.kind == "redis":
        return sum(client["cmd"] == "blpop" for client in backend._redis.client_list())  # type: ignore[attr-defined]
    return len(list(backend._wakeup.directory.glob("*.sock")))  # type: ignore[attr-defined]


def idle(backend: Backend, count: int) -> None:
    wait_until(lambda: waiting_workers(backend) >= count, message=f"{count} idle workers")


def started_promptly(marker: Path, what: str) -> None:
    wait_until(marker.exists, timeout=PROMPT, message=f"{what} to start (a wake-up was lost)")


def ledger(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("how", ["one by one", "enqueue_many"])
def test_a_burst_starts_on_every_idle_worker(backend: Backend, workers: Starter, tmp_path: Path, how: str) -> None:
    for _ in range(3):
        workers()
    idle(backend, 3)
    queue, release = Queue(connection=backend), str(tmp_path / "release")
    markers = [tmp_path / f"job-{i}" for i in range(3)]
    # each held until released: three run at once only if each idle worker took one
    if how == "one by one":
        for marker in markers:
            queue.enqueue(jobfuncs.hold_until_released, str(marker), release)
    else:
        queue.enqueue_many([Queue.prepare_data(jobfuncs.hold_until_released, (str(m), release)) for m in markers])
    wait_until(lambda: all(m.exists() for m in markers), timeout=PROMPT, message="every job to start")
    assert len({m.read_text() for m in markers}) == 3, "each on a worker of its own"


def test_a_worker_of_other_queues_leaves_the_wakeup_to_one_of_the_jobs_queue(
    backend: Backend, workers: Starter, tmp_path: Path
) -> None:
    workers(("other",))  # waiting first: the first a single wake-up list would wake
    idle(backend, 1)
    workers(("default",))
    idle(backend, 2)
    marker = tmp_path / "job"
    Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(marker), str(tmp_path / "release"))
    started_promptly(marker, "the job")


@pytest.mark.parametrize(
    ("limits", "users"),
    [({"per_user_max": 1}, ("alice", "alice")), ({"global_max": 1}, ("alice", "bob"))],
    ids=["per user", "global"],
)
def test_a_job_held_by_a_limit_starts_once_the_slot_frees(
    backend: Backend, workers: Starter, tmp_path: Path, limits: dict[str, int], users: tuple[str, str]
) -> None:
    # the limit spans queues, and the worker whose job frees the slot does not serve the
    # held job's queue: only a wake-up at the settle starts it before the poll
    workers(("first",), limits=limits)
    workers(("second",), limits=limits)
    idle(backend, 2)
    release, first_marker, second_marker = tmp_path / "release", tmp_path / "first", tmp_path / "second"
    Queue("first", connection=backend).enqueue(
        jobfuncs.hold_until_released, str(first_marker), str(release), user_id=users[0]
    )
    wait_until(first_marker.exists, message="the first job to start")
    second = Queue("second", connection=backend).enqueue(
        jobfuncs.hold_until_released, str(second_marker), str(tmp_path / "never"), user_id=users[1]
    )
    assert second.get_status(refresh=True) is JobStatus.QUEUED, "held by the limit"
    release.touch()
    started_promptly(second_marker, "the held job")


def held_marks(backend: Backend) -> set[str]:
    """The limits marked as holding queued jobs (see conveyor.backends.held)."""
    if backend.kind == "redis":
        return {name.decode() for name in backend._redis.hkeys(backend.keys.base + "heldby")}  # type: ignore[attr-defined]
    rows = backend._pool.read(  # type: ignore[attr-defined]
        lambda conn: conn.execute("SELECT name FROM marks WHERE name LIKE 'held:%'").fetchall()
    )
    return {name.removeprefix("held:") for (name,) in rows}


def test_a_job_left_behind_by_a_claim_that_filled_the_limit_again_starts_once_the_next_slot_frees(
    backend: Backend, workers: Starter, tmp_path: Path
) -> None:
    # both idle workers of "second" find its jobs held by the global cap; a slot frees, and
    # the worker woken takes one job (its one free slot), which fills the cap again: it
    # never reads the other job, whose mark the wake-up took, so the next slot to free
    # must wake the other idle worker all the same
    limits = {"global_max": 2}
    for queue in ("second", "second", "first", "first"):
        workers((queue,), limits=limits)
    idle(backend, 4)
    releases = [tmp_path / "release-1", tmp_path / "release-2"]
    for i, release in enumerate(releases):
        Queue("first", connection=backend).enqueue(jobfuncs.hold_until_released, str(tmp_path / f"r{i}"), str(release))
    wait_until(lambda: (tmp_path / "r0").exists() and (tmp_path / "r1").exists(), message="the first jobs to start")
    markers = [tmp_path / "s0", tmp_path / "s1"]
    for marker in markers:
        Queue("second", connection=backend).enqueue(jobfuncs.hold_until_released, str(marker), str(tmp_path / "never"))
    wait_until(lambda: held_marks(backend) == {"global"}, message="the held jobs marked")
    if backend.kind == "redis":  # each idle worker of "second" took a token, and waits again
        wake = backend.keys.wake("second")  # type: ignore[attr-defined]
        wait_until(lambda: backend._redis.llen(wake) == 0, message="the tokens taken")  # type: ignore[attr-defined]
        idle(backend, 2)
    releases[0].touch()
    wait_until(lambda: any(m.exists() for m in markers), message="a held job to start")
    releases[1].touch()
    wait_until(lambda: all(m.exists() for m in markers), timeout=PROMPT, message="the other (a wake-up was lost)")


@pytest.mark.parametrize("how", ["deleted", "canceled", "stopped"])
def test_a_job_held_by_a_limit_starts_once_the_running_job_holding_it_is_deleted_or_stopped(
    backend: Backend, workers: Starter, tmp_path: Path, how: str
) -> None:
    # deleting the running job frees its slot at once (its worker runs it on, unheard of);
    # canceling or stopping it, once its worker has stopped it
    limits = {"per_user_max": 1}
    workers(("first",), limits=limits)
    workers(("second",), limits=limits)
    idle(backend, 2)
    first_marker, second_marker = tmp_path / "first", tmp_path / "second"
    first = Queue("first", connection=backend).enqueue(
        jobfuncs.hold_until_released, str(first_marker), str(tmp_path / "never"), user_id="alice"
    )
    wait_until(first_marker.exists, message="the first job to start")
    second = Queue("second", connection=backend).enqueue(
        jobfuncs.hold_until_released, str(second_marker), str(tmp_path / "never"), user_id="alice"
    )
    assert second.get_status(refresh=True) is JobStatus.QUEUED, "held by the limit"
    if how == "deleted":
        first.delete()
    elif how == "canceled":
        first.cancel()
    else:
        send_stop_job_command(backend, first.id)
    started_promptly(second_marker, "the held job")


@pytest.fixture
def promoter(workers: Starter) -> subprocess.Popen[bytes]:
    """A worker of another queue whose housekeeper promotes due jobs and recovers lost
    leases often: the idle worker of the jobs' queue polls too rarely to do it in time."""
    return workers(("other",), poll_interval=0.2, lease_ttl=2)


@pytest.fixture
def beside_promoter(backend: Backend, workers: Starter, promoter: object) -> None:
    """An idle worker of the jobs' queue, and the promoter."""
    workers()
    idle(backend, 2)


@pytest.mark.usefixtures("beside_promoter")
def test_a_scheduled_job_starts_once_another_worker_promotes_it(backend: Backend, tmp_path: Path) -> None:
    marker = tmp_path / "job"
    Queue(connection=backend).enqueue_in(timedelta(seconds=1), jobfuncs.hold_until_released, str(marker), "-")
    started_promptly(marker, "the job come due")


@pytest.mark.usefixtures("beside_promoter")
def test_a_dependent_starts_once_its_dependency_ends_on_another_worker(backend: Backend, tmp_path: Path) -> None:
    release, marker = tmp_path / "release", tmp_path / "child"
    parent = Queue("other", connection=backend).enqueue(jobfuncs.hold_until_released, str(tmp_path / "p"), str(release))
    Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(marker), "-", depends_on=parent)
    wait_until((tmp_path / "p").exists, message="the parent to start")
    release.touch()
    started_promptly(marker, "the dependent")


@pytest.mark.usefixtures("beside_promoter")
def test_a_retry_with_a_delay_starts_once_promoted(backend: Backend, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    Queue(connection=backend).enqueue(jobfuncs.record_then_fail, str(runs), "job", retry=Retry(max=1, interval=1))
    wait_until(lambda: len(ledger(runs)) == 1, timeout=PROMPT, message="the first run")
    wait_until(lambda: len(ledger(runs)) == 2, timeout=PROMPT, message="the retry to start")


def test_a_requeued_job_starts_at_once(backend: Backend, workers: Starter, tmp_path: Path) -> None:
    workers()
    idle(backend, 1)
    runs = tmp_path / "runs"
    job = Queue(connection=backend).enqueue(jobfuncs.record_then_fail, str(runs), "job")
    wait_until(lambda: job.get_status(refresh=True) is JobStatus.FAILED, timeout=PROMPT, message="the job to fail")
    idle(backend, 1)
    job.requeue()
    wait_until(lambda: len(ledger(runs)) == 2, timeout=PROMPT, message="the requeued job to start")


def test_a_batch_started_by_hand_starts_its_jobs_at_once(backend: Backend, workers: Starter, tmp_path: Path) -> None:
    workers()
    idle(backend, 1)
    marker = tmp_path / "job"
    spec = Queue.prepare_data(jobfuncs.hold_until_released, (str(marker), "-"))
    batch = Batch.create([spec], scheduled_start=datetime.now(UTC) + timedelta(days=1), connection=backend)
    batch.start()
    started_promptly(marker, "the batch's job")


def test_a_job_a_stopping_worker_gives_back_starts_on_an_idle_one(
    backend: Backend, workers: Starter, tmp_path: Path
) -> None:
    stopping = workers(shutdown_timeout=0.5)
    first, second = tmp_path / "first-run", tmp_path / "second-run"
    job = Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(first), str(tmp_path / "never"))
    wait_until(first.exists, message="the job to start")
    workers()
    idle(backend, 1)
    first.rename(second)  # the run after the stop marks the first name again
    stopping.send_signal(signal.SIGTERM)  # interrupted past shutdown_timeout: given back
    started_promptly(first, "the given-back job")
    assert job.get_status(refresh=True) is JobStatus.STARTED


def test_a_job_recovered_from_a_dead_worker_starts_on_an_idle_one(
    backend: Backend, workers: Starter, promoter: object, tmp_path: Path
) -> None:
    dying = workers(lease_ttl=2)
    runs = tmp_path / "runs"
    job = Queue(connection=backend).enqueue(
        jobfuncs.record_run, str(runs), "job", str(tmp_path / "never"), retry=Retry(max=1)
    )
    wait_until(lambda: len(ledger(runs)) == 1, message="the job to start")
    workers()
    idle(backend, 2)
    dying.send_signal(signal.SIGKILL)
    wait_until(lambda: Job.fetch(job.id, connection=backend).retry_count == 1, message="recovery to requeue it")
    wait_until(lambda: len(ledger(runs)) == 2, timeout=PROMPT, message="the recovered job to start")
