"""Rate limits (Limits.per_queue_rate, per_job_type_rate) inside jobs_claim: at most N
starts of a queue or job type in any window of the period, across every worker of the
store; jobs over a rate stay queued, and the claim that leaves them announces when the
window frees, and the due pass then wakes the idle workers.

Time is the claims' ``now``: a window passes by claiming later, never by sleeping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, get, put
from backend_conformance.test_due_signals import heard
from backend_conformance.test_wakeups import WakeupsSent, drain, ends_promptly, wakeups  # noqa: F401  (a fixture)
from conveyor.backends import held
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import RELEASED, Limits, Settlement

EMAILS_2_PER_MINUTE = Limits(per_queue_rate={"emails": "2/m"})
RENDERS_1_PER_SECOND = Limits(per_job_type_rate={"jobs.render": "1/s"})


def claim(backend, limits, limit=10, queues=("emails",), now=NOW, worker="w-1"):
    records = backend.jobs_claim(list(queues), worker, limit, "token-" + worker, now + LEASE_TTL, now, limits)
    return [record.id for record in records]


def put_many(backend, count, **fields):
    return [put(backend, **fields).id for _ in range(count)]


def statuses(backend, job_ids):
    return [get(backend, job_id).status for job_id in job_ids]


def test_a_queue_rate_holds_across_claims_and_the_jobs_over_it_stay_queued(backend: Backend) -> None:
    jobs = put_many(backend, 5, queue="emails")
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1) == [jobs[0]]
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1, now=NOW + 10) == [jobs[1]]
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 20) == []
    assert statuses(backend, jobs[2:]) == [JobStatus.QUEUED] * 3


def test_a_queue_rate_holds_across_workers(backend: Backend, other: Backend) -> None:
    jobs = put_many(backend, 4, queue="emails")
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1, worker="w-1") == [jobs[0]]
    assert claim(other, EMAILS_2_PER_MINUTE, worker="w-2") == [jobs[1]]
    assert claim(backend, EMAILS_2_PER_MINUTE, worker="w-1") == []
    assert claim(other, EMAILS_2_PER_MINUTE, worker="w-2") == []


def test_the_window_slides_each_start_leaving_it_a_period_after_it(backend: Backend) -> None:
    jobs = put_many(backend, 5, queue="emails")
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1) == [jobs[0]]
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1, now=NOW + 30) == [jobs[1]]
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 59.9) == []
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 60) == [jobs[2]], "the first start left the window"
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 89) == []
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 120) == jobs[3:]


def test_other_queues_are_not_held(backend: Backend) -> None:
    emails = put_many(backend, 3, queue="emails")
    others = put_many(backend, 2, queue="default")
    assert claim(backend, EMAILS_2_PER_MINUTE, queues=("emails", "default")) == [*emails[:2], *others]
    assert statuses(backend, emails[2:]) == [JobStatus.QUEUED]


def test_a_job_type_rate_reads_past_the_held_types_jobs_to_others(backend: Backend) -> None:
    renders = put_many(backend, 3, user_id="alice", func_name="jobs.render")
    pings = put_many(backend, 2, user_id="alice", func_name="jobs.ping")
    assert claim(backend, RENDERS_1_PER_SECOND, queues=("default",)) == [renders[0], *pings]
    assert claim(backend, RENDERS_1_PER_SECOND, queues=("default",), now=NOW + 0.5) == []
    assert claim(backend, RENDERS_1_PER_SECOND, queues=("default",), now=NOW + 1) == [renders[1]]


def test_a_job_type_rate_spans_queues(backend: Backend) -> None:
    first = put(backend, queue="a", func_name="jobs.render").id
    put(backend, queue="b", func_name="jobs.render")
    ping = put(backend, queue="b", func_name="jobs.ping").id
    assert claim(backend, RENDERS_1_PER_SECOND, queues=("a", "b")) == [first, ping]


def test_rates_and_concurrency_limits_apply_together(backend: Backend) -> None:
    jobs = put_many(backend, 4, queue="emails")
    limits = Limits(per_queue={"emails": 1}, per_queue_rate={"emails": "2/m"})
    assert claim(backend, limits) == [jobs[0]], "one at a time"
    (record,) = backend.jobs_get([jobs[0]])
    assert record is not None
    backend.jobs_settle([Settlement(jobs[0], record.lease_token or "", JobStatus.FINISHED, keep_until=NOW + 9)], NOW)
    assert claim(backend, limits, now=NOW + 1) == [jobs[1]]
    backend.jobs_settle([Settlement(jobs[1], "token-w-1", JobStatus.FINISHED, keep_until=NOW + 9)], NOW + 1)
    assert claim(backend, limits, now=NOW + 2) == [], "a slot is free, but not the rate"


def put_back(backend: Backend, job_id: str, how: str) -> None:
    """Return a claimed job to its queue: released unrun, retried, or requeued by a cancel."""
    if how == "requeued":
        backend.job_cancel(job_id, NOW, NOW + 99, False)
        backend.jobs_settle([Settlement(job_id, "token-w-1", JobStatus.STOPPED, keep_until=NOW + 9)], NOW)
        assert backend.jobs_requeue([job_id], NOW) == [job_id]
        return
    settlement = (
        Settlement(job_id, "token-w-1", JobStatus.QUEUED, reason=RELEASED)
        if how == "released"
        else Settlement(job_id, "token-w-1", JobStatus.QUEUED, reason="error", count_retry=True)
    )
    assert backend.jobs_settle([settlement], NOW) == [True]


@pytest.mark.parametrize("how", ["released", "retried", "requeued"])
def test_every_start_counts_again_whatever_put_the_job_back(backend: Backend, how: str) -> None:
    first, second = put_many(backend, 2, queue="emails", max_retries=3)
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1) == [first]
    put_back(backend, first, how)
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1) in ([first], [second])
    assert claim(backend, EMAILS_2_PER_MINUTE) == [], "two starts in the minute"


def test_a_recovered_job_started_again_counts_again(backend: Backend) -> None:
    first, _ = put_many(backend, 2, queue="emails", max_retries=3)
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=1) == [first]
    lapsed = NOW + LEASE_TTL + 1
    assert [r.job_id for r in backend.leases_recover(lapsed)] == [first]
    assert len(claim(backend, EMAILS_2_PER_MINUTE, limit=1, now=lapsed)) == 1
    assert claim(backend, EMAILS_2_PER_MINUTE, now=lapsed) == [], "two starts in the minute"


def test_a_claim_without_rates_neither_checks_nor_logs_them(backend: Backend) -> None:
    jobs = put_many(backend, 3, queue="emails")
    assert claim(backend, None, limit=2) == jobs[:2]  # (a worker given no rates: an earlier one)
    assert claim(backend, EMAILS_2_PER_MINUTE) == [jobs[2]], "only starts under a rate are logged"


def test_a_held_rate_announces_when_its_window_frees(backend: Backend, other: Backend) -> None:
    assert backend.schedule_signals() is None  # listening from now on
    put_many(backend, 3, queue="emails")
    assert len(claim(other, EMAILS_2_PER_MINUTE, limit=1)) == 1
    assert len(claim(other, EMAILS_2_PER_MINUTE, limit=1, now=NOW + 10)) == 1
    assert claim(other, EMAILS_2_PER_MINUTE, now=NOW + 20) == []
    assert heard(backend) == NOW + 60, "when the first start leaves the window"
    assert backend.schedule_next_due() == NOW + 60


def test_the_earliest_time_a_rate_frees_is_kept(backend: Backend) -> None:
    put_many(backend, 3, queue="emails")
    assert len(claim(backend, Limits(per_queue_rate={"emails": "1/2m"}), limit=1)) == 1
    assert claim(backend, Limits(per_queue_rate={"emails": "1/2m"}), now=NOW + 1) == []  # frees at NOW + 120
    assert backend.schedule_next_due() == NOW + 120
    assert claim(backend, Limits(per_queue_rate={"emails": "1/m"}), now=NOW + 2) == []  # frees at NOW + 60
    assert backend.schedule_next_due() == NOW + 60
    assert claim(backend, Limits(per_queue_rate={"emails": "1/2m"}), now=NOW + 3) == []
    assert backend.schedule_next_due() == NOW + 60, "the later time does not replace it"


def test_the_due_pass_wakes_the_idle_workers_when_a_held_rate_frees(
    backend: Backend,
    other: Backend,
    wakeups: Callable[[str], WakeupsSent],  # noqa: F811
) -> None:
    jobs = put_many(backend, 3, queue="emails")
    assert claim(backend, EMAILS_2_PER_MINUTE, limit=2) == jobs[:2]
    assert claim(backend, EMAILS_2_PER_MINUTE, now=NOW + 1) == [], "held"
    sent = wakeups("emails")
    assert backend.jobs_promote_due(NOW + 59) == 0
    assert sent.count() == 0, "woken before the window frees"
    drain(other, ["emails"])
    with ends_promptly(other, ["emails"]):
        assert backend.jobs_promote_due(NOW + 60) == 0  # (it promoted no scheduled job)
    assert sent.count() > 0
    assert backend.schedule_next_due() is None, "the time is taken"
    assert claim(other, EMAILS_2_PER_MINUTE, now=NOW + 60) == [jobs[2]]


def test_a_claim_that_takes_all_it_may_leaves_nothing_to_wake_for(backend: Backend) -> None:
    put_many(backend, 2, queue="emails")
    assert len(claim(backend, EMAILS_2_PER_MINUTE)) == 2
    assert backend.schedule_next_due() is None


def test_rate_names_are_held_names() -> None:
    assert held.is_rate(held.QUEUE_RATE + "emails") and held.is_rate(held.JOB_TYPE_RATE + "jobs.render")
    assert not held.is_rate(held.QUEUE + "emails") and not held.is_rate(held.GLOBAL)


USERS_2_PER_MINUTE = Limits(per_user_rate="2/m")


def test_a_user_rate_holds_each_user_apart_and_reads_past_a_held_users_jobs(backend: Backend) -> None:
    alice = put_many(backend, 4, user_id="alice")
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",)) == alice[:2]
    bob = put_many(backend, 3, user_id="bob")
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), now=NOW + 1) == bob[:2], "alice is held, not bob"
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), now=NOW + 2) == []
    assert statuses(backend, [*alice[2:], bob[2]]) == [JobStatus.QUEUED] * 3


def test_a_user_rate_holds_across_workers_and_queues(backend: Backend, other: Backend) -> None:
    first = put(backend, queue="a", user_id="alice").id
    second = put(backend, queue="b", user_id="alice").id
    put(backend, queue="a", user_id="alice")
    limits = Limits(per_user_rate="2/m")
    assert claim(backend, limits, limit=1, queues=("a",), worker="w-1") == [first]
    assert claim(other, limits, queues=("b",), worker="w-2") == [second]
    assert claim(backend, limits, queues=("a", "b"), worker="w-1") == []


def test_a_user_held_by_its_rate_starts_once_the_window_frees(backend: Backend) -> None:
    alice = put_many(backend, 3, user_id="alice")
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), limit=1) == [alice[0]]
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), limit=1, now=NOW + 30) == [alice[1]]
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), now=NOW + 59) == []
    assert backend.schedule_next_due() == NOW + 60, "the first start leaves the window then"
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",), now=NOW + 60) == [alice[2]]


def test_jobs_without_a_user_are_not_held_by_the_user_rate(backend: Backend) -> None:
    anonymous = put_many(backend, 4)
    alice = put_many(backend, 3, user_id="alice")
    taken = claim(backend, USERS_2_PER_MINUTE, queues=("default",))
    assert sorted(taken) == sorted([*anonymous, *alice[:2]])
    assert statuses(backend, alice[2:]) == [JobStatus.QUEUED]


def test_a_user_rate_and_the_per_user_limit_apply_together(backend: Backend) -> None:
    alice = put_many(backend, 4, user_id="alice")
    bob = put_many(backend, 1, user_id="bob")
    limits = Limits(per_user_max=1, per_user_rate="2/m")
    assert sorted(claim(backend, limits, queues=("default",))) == sorted([alice[0], *bob]), "one at a time each"
    backend.jobs_settle([Settlement(alice[0], "token-w-1", JobStatus.FINISHED, keep_until=NOW + 9)], NOW)
    assert claim(backend, limits, queues=("default",), now=NOW + 1) == [alice[1]]
    backend.jobs_settle([Settlement(alice[1], "token-w-1", JobStatus.FINISHED, keep_until=NOW + 9)], NOW + 1)
    assert claim(backend, limits, queues=("default",), now=NOW + 2) == [], "a slot is free, but not alice's rate"
    assert claim(backend, limits, queues=("default",), now=NOW + 60) == [alice[2]]


def test_a_held_user_rate_wakes_the_idle_workers_when_its_window_frees(
    backend: Backend,
    other: Backend,
    wakeups: Callable[[str], WakeupsSent],  # noqa: F811
) -> None:
    alice = put_many(backend, 3, user_id="alice")
    assert claim(backend, USERS_2_PER_MINUTE, queues=("default",)) == alice[:2]
    sent = wakeups("default")
    assert backend.jobs_promote_due(NOW + 59) == 0
    assert sent.count() == 0, "woken before the window frees"
    drain(other, ["default"])
    with ends_promptly(other, ["default"]):
        assert backend.jobs_promote_due(NOW + 60) == 0
    assert sent.count() > 0
    assert claim(other, USERS_2_PER_MINUTE, queues=("default",), now=NOW + 60) == [alice[2]]


def test_user_rate_names_are_rate_names() -> None:
    assert held.is_rate(held.USER_RATE + "alice") and not held.is_rate(held.USER + "alice")
