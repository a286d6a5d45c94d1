"""Due-time announcements: a write that puts a job or a batch start on a time tells the
listening workers the earliest due time, so that a job scheduled from another process
sooner than a worker's next poll starts on time (Backend.schedule_signals).

Each test listens on ``backend`` and writes through ``other``, another connection to
the same store, as a client or another worker would."""

from __future__ import annotations

import sys
import threading

import pytest

from backend_conformance import corruption
from backend_conformance.helpers import NOW, claim, put, settle
from backend_conformance.test_batches import START, create
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from waiting import wait_until

PROMPT = 5.0


@pytest.fixture
def listener(backend: Backend) -> Backend:
    """``backend``, listening from now on (the first call hears nothing)."""
    assert backend.schedule_signals() is None
    return backend


def heard(listener: Backend) -> float:
    """The next due time announced (fails after PROMPT seconds of silence)."""
    return wait_until(listener.schedule_signals, timeout=PROMPT, message="a due time to be announced")


def test_a_job_scheduled_elsewhere_announces_its_time(listener: Backend, other: Backend) -> None:
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 5)
    assert heard(listener) == NOW + 5


def test_a_sooner_job_announces_the_sooner_time(listener: Backend, other: Backend) -> None:
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 60)
    assert heard(listener) == NOW + 60
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 2)
    assert heard(listener) == NOW + 2


def test_the_time_announced_is_the_earliest_due_not_a_later_one(listener: Backend, other: Backend) -> None:
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 5)
    assert heard(listener) == NOW + 5
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 60)  # announces nothing, or NOW + 5 again
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 1)
    assert heard(listener) == NOW + 1


def test_a_retry_with_a_delay_announces_its_time(listener: Backend, other: Backend) -> None:
    put(other)
    (running,) = claim(other)
    assert settle(other, running, JobStatus.SCHEDULED, scheduled_for=NOW + 7, count_retry=True)
    assert heard(listener) == NOW + 7


def test_a_dependent_given_a_time_announces_it_when_its_parent_ends(listener: Backend, other: Backend) -> None:
    put(other, id="parent")
    put(other, JobStatus.DEFERRED, id="child", depends_on=("parent",), scheduled_for=NOW + 9)
    (parent,) = claim(other)
    assert settle(other, parent, JobStatus.FINISHED, keep_until=NOW + 99)
    assert heard(listener) == NOW + 9


def test_a_dependent_given_a_time_announces_it_when_a_client_cancels_its_parent(
    listener: Backend, other: Backend
) -> None:
    put(other, id="parent")
    put(other, JobStatus.DEFERRED, id="child", depends_on=("parent",), scheduled_for=NOW + 9)
    other.job_cancel("parent", NOW, NOW + 99, True)  # with its dependents enqueued
    assert heard(listener) == NOW + 9


def test_a_scheduled_batch_announces_its_start_and_a_sooner_one(listener: Backend, other: Backend) -> None:
    create(other, scheduled=True)
    assert heard(listener) == START
    other.batch_reschedule("b-1", START - 60, NOW)
    assert heard(listener) == START - 60


def test_a_queued_job_announces_nothing(listener: Backend, other: Backend) -> None:
    put(other)
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 3)
    assert heard(listener) == NOW + 3, "the first time heard is the scheduled job's"


def test_the_sooner_time_announced_last_in_a_burst_is_heard_though_none_was_read_meanwhile(
    listener: Backend, other: Backend
) -> None:
    """A burst of writes announces more than a socket holds (ten, on Linux) before the
    worker reads any: the time announced last, the soonest, is heard all the same."""
    for _ in range(4 * 10):
        put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 60)
    put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 5)
    assert heard(listener) == NOW + 5


def test_a_batch_start_the_doctor_repairs_is_announced(listener: Backend, other: Backend) -> None:
    """The repair starts it at once: the workers hear it rather than wait for their poll."""
    create(other, scheduled=True)
    assert heard(listener) == START
    corruption.drop_batch_starter(other, "b-1")
    other.invariants_check(NOW, True)
    assert heard(listener) == NOW


def test_listeners_sharing_a_backend_hear_together(
    listener: Backend, other: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """The workers of a process may share a backend object: their housekeepers read it at
    the same time, and every announcement is heard by one of them, the subscription kept."""
    caplog.set_level("INFO", logger="conveyor.backends")
    heard_times: list[float] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def housekeeper() -> None:
        try:
            while not done.is_set():
                if (at := listener.schedule_signals()) is not None:
                    heard_times.append(at)
        except BaseException as exc:  # (the test says what a thread raised)
            errors.append(exc)

    threads = [threading.Thread(target=housekeeper) for _ in range(4)]
    # The housekeepers never wait: this thread's every reply from the store would wait a
    # whole switch interval (5 ms) for the GIL back, 200 writes of a dozen calls each.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    for thread in threads:
        thread.start()
    try:
        for sooner in range(200):  # each one the earliest, each announced
            put(other, JobStatus.SCHEDULED, scheduled_for=NOW + 1000 - sooner)
        wait_until(lambda: NOW + 801 in heard_times, timeout=PROMPT, message="the last time announced")
    finally:
        done.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(switch_interval)
    assert errors == []
    assert caplog.records == [], "the subscription was never lost"
