"""unique_key: while a job holding a key is live, enqueueing the key again returns that job."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LIVE_STATUSES, NOW, TERMINAL_STATUSES, get, put, snapshot
from conveyor.status import JobStatus
from conveyor.testing import make_record


@pytest.mark.parametrize("holder_status", LIVE_STATUSES)
def test_a_live_holder_is_returned_instead_of_a_new_job(backend, holder_status):
    holder = put(backend, holder_status, unique_key="order-42")
    before = snapshot(backend)
    (returned,) = backend.jobs_enqueue([make_record(unique_key="order-42")], NOW)
    assert (returned.id, returned.status) == (holder.id, holder_status)
    assert snapshot(backend) == before


@pytest.mark.parametrize("holder_status", LIVE_STATUSES)
def test_the_same_submission_again_returns_the_holder_whatever_else_it_says(backend, holder_status):
    # the retry of an enqueue that gave its own job_id (its holder's), or names a
    # dependency deleted since: Redis checked these before seeing the holder and raised
    # JobIdInUseError or NoSuchJobError, where SQLite returned the holder
    holder = put(backend, holder_status, id="order-job", unique_key="order-42")
    before = snapshot(backend)
    again = [make_record(id="order-job", unique_key="order-42"),
             make_record(unique_key="order-42", depends_on=("deleted-since",))]  # fmt: skip
    for record in again:
        (returned,) = backend.jobs_enqueue([record], NOW)
        assert (returned.id, returned.status) == (holder.id, holder_status)
    assert snapshot(backend) == before


@pytest.mark.parametrize("ended", TERMINAL_STATUSES)
def test_an_ended_holder_lets_a_new_job_in(backend, ended):
    old = put(backend, ended, unique_key="order-42")
    (new,) = backend.jobs_enqueue([make_record(unique_key="order-42")], NOW)
    assert new.id != old.id
    assert get(backend, new.id).unique_key == "order-42"


def test_duplicates_within_one_batch_become_one_job(backend):
    first, second, other = backend.jobs_enqueue(
        [make_record(unique_key="k"), make_record(unique_key="k"), make_record(unique_key="other")], NOW
    )
    assert second.id == first.id
    assert other.id != first.id
    assert len(snapshot(backend)) == 2


def test_other_keys_and_no_key_are_independent(backend):
    put(backend, unique_key="a")
    jobs = backend.jobs_enqueue([make_record(unique_key="b"), make_record(), make_record()], NOW)
    assert len({job.id for job in jobs}) == 3


def test_requeue_is_refused_while_another_job_holds_the_key(backend):
    failed = put(backend, JobStatus.FAILED, unique_key="k")
    holder = put(backend, unique_key="k")
    assert backend.jobs_requeue([failed.id], NOW) == []
    assert get(backend, failed.id).status is JobStatus.FAILED
    backend.job_cancel(holder.id, NOW, NOW + 9, False)
    assert backend.jobs_requeue([failed.id], NOW) == [failed.id]
