"""Fair share between users and concurrency limits, both inside jobs_claim."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, get, put
from conveyor.backends import held
from conveyor.status import JobStatus
from conveyor.types import Limits, Settlement


def claim(backend, limit=10, queues=("default",), limits=None, now=NOW, worker="w-1"):
    records = backend.jobs_claim(list(queues), worker, limit, "token-" + worker, now + LEASE_TTL, now, limits)
    return [record.id for record in records]


def put_many(backend, count, **fields):
    return [put(backend, **fields).id for _ in range(count)]


def test_a_flood_does_not_starve_another_users_job(backend):
    flood = put_many(backend, 20, user_id="alice")
    single = put(backend, user_id="bob").id
    assert claim(backend, limit=1) == [flood[0]]
    assert claim(backend, limit=1) == [single]
    assert claim(backend, limit=1) == [flood[1]]


def test_users_take_turns_within_one_claim(backend):
    alice = put_many(backend, 3, user_id="alice")
    bob = put_many(backend, 3, user_id="bob")
    assert claim(backend, limit=4) == [alice[0], bob[0], alice[1], bob[1]]


def test_the_user_served_least_recently_goes_first(backend):
    alice = put_many(backend, 3, user_id="alice")
    assert claim(backend, limit=1) == [alice[0]]
    bob = put_many(backend, 3, user_id="bob")
    carol = put(backend, user_id="carol").id
    assert claim(backend, limit=3) == [bob[0], carol, alice[1]]


def test_jobs_without_a_user_take_turns_as_one_more_user(backend):
    anonymous = put_many(backend, 3)
    alice = put(backend, user_id="alice").id
    assert claim(backend, limit=2) == [anonymous[0], alice]


def test_jobs_without_a_user_served_alone_count_their_turn_as_a_users_would(backend):
    # SQLite left the turn of jobs without a user unrecorded when they were alone in the
    # queue, Redis recorded it (its list of waiting users still named alice): the next
    # claims differed between the backends
    alice = put(backend, user_id="alice").id
    assert claim(backend, limit=1) == [alice]
    anonymous = put(backend).id
    assert claim(backend, limit=1) == [anonymous]
    alice_again = put(backend, user_id="alice").id
    put(backend)
    assert claim(backend, limit=1) == [alice_again]  # alice was served longer ago


def test_priority_comes_before_turns(backend):
    low = put(backend, user_id="bob", priority=0).id
    high = put_many(backend, 2, user_id="alice", priority=5)
    assert claim(backend, limit=3) == [high[0], high[1], low]


def test_one_user_keeps_priority_then_fifo(backend):
    first = put(backend, user_id="alice").id
    urgent = put(backend, user_id="alice", priority=3).id
    put(backend, user_id="bob", priority=-1)
    assert claim(backend, limit=2) == [urgent, first]


def test_expired_jobs_are_skipped_in_turns_too(backend):
    put(backend, user_id="alice", expires_at=NOW - 1)
    bob = put(backend, user_id="bob").id
    assert claim(backend) == [bob]


def test_global_limit_counts_every_workers_running_jobs(backend):
    put_many(backend, 2)
    assert len(claim(backend, worker="w-other")) == 2
    waiting = put_many(backend, 5, user_id="alice")
    assert claim(backend, limits=Limits(global_max=3)) == [waiting[0]]
    assert claim(backend, limits=Limits(global_max=3)) == []
    assert all(get(backend, job_id).status is JobStatus.QUEUED for job_id in waiting[1:])


def test_per_user_limit_holds_one_user_and_serves_others(backend):
    alice = put_many(backend, 4, user_id="alice")
    bob = put_many(backend, 2, user_id="bob")
    limits = Limits(per_user_max=2)
    assert claim(backend, limit=10, limits=limits) == [alice[0], bob[0], alice[1], bob[1]]
    put(backend, user_id="carol")
    assert len(claim(backend, limit=10, limits=limits)) == 1  # carol's; alice waits
    assert [get(backend, job_id).status for job_id in alice[2:]] == [JobStatus.QUEUED] * 2


def test_per_user_limit_does_not_hold_jobs_without_a_user(backend):
    anonymous = put_many(backend, 3)
    assert claim(backend, limits=Limits(per_user_max=1)) == anonymous


def test_per_queue_limit(backend):
    capped = [put(backend, queue="slow").id for _ in range(3)]
    free = put(backend, queue="fast").id
    limits = Limits(per_queue={"slow": 1})
    assert claim(backend, queues=("slow", "fast"), limits=limits) == [capped[0], free]
    assert claim(backend, queues=("slow",), limits=limits) == []


def test_per_job_type_limit_skips_to_other_types(backend):
    heavy = put_many(backend, 3, func_name="jobs.render")
    light = put_many(backend, 2, func_name="jobs.ping")
    limits = Limits(per_job_type={"jobs.render": 1})
    assert claim(backend, limits=limits) == [heavy[0], *light]
    assert claim(backend, limits=limits) == []


def test_a_job_of_another_type_is_not_held_behind_its_users_jobs_of_a_full_type(backend):
    # a claim read each user's first jobs, as many as it could take: alice's ping waited
    # behind her renders for a render slot, though it needs none
    renders = put_many(backend, 3, user_id="alice", func_name="jobs.render")
    ping = put(backend, user_id="alice", func_name="jobs.ping").id
    later = put(backend, user_id="alice", func_name="jobs.ping").id
    limits = Limits(per_job_type={"jobs.render": 1})
    assert claim(backend, limit=1, limits=limits) == [renders[0]]
    assert claim(backend, limit=1, limits=limits) == [ping]
    assert claim(backend, limit=1, limits=limits) == [later]
    assert [get(backend, job).status for job in renders[1:]] == [JobStatus.QUEUED] * 2


def test_a_claim_reads_past_jobs_of_a_type_it_fills_itself(backend):
    # one render slot left: the claim took the first render, and the second (read, as
    # the type was not yet full) stood in for the ping, which a second slot could run
    limits = Limits(per_job_type={"jobs.render": 2})
    put(backend, func_name="jobs.render")
    assert len(claim(backend, limit=1, limits=limits)) == 1
    first, _ = put_many(backend, 2, user_id="alice", func_name="jobs.render")
    ping = put(backend, user_id="alice", func_name="jobs.ping").id
    assert claim(backend, limit=2, limits=limits) == [first, ping]


def test_a_claim_reads_past_a_bounded_number_of_jobs_of_a_full_type(backend):
    put(backend, user_id="alice", func_name="jobs.render")
    limits = Limits(per_job_type={"jobs.render": 1})
    assert len(claim(backend, limit=1, limits=limits)) == 1
    put_many(backend, held.READ_PAST, user_id="alice", func_name="jobs.render")
    ping = put(backend, user_id="alice", func_name="jobs.ping").id
    assert claim(backend, limit=1, limits=limits) == [ping], "within the bound"
    put_many(backend, held.READ_PAST + 1, user_id="bob", func_name="jobs.render")
    put(backend, user_id="bob", func_name="jobs.ping")
    assert claim(backend, limit=1, limits=limits) == [], "past the bound: waits for a render slot"


def test_a_limit_frees_up_when_a_job_ends(backend):
    first, second = put_many(backend, 2, user_id="alice")
    limits = Limits(per_user_max=1)
    assert claim(backend, limits=limits) == [first]
    record = get(backend, first)
    backend.jobs_settle([Settlement(first, record.lease_token or "", JobStatus.FINISHED, keep_until=NOW + 9)], NOW)
    assert claim(backend, limits=limits) == [second]


def test_no_limits_is_the_plain_claim(backend):
    jobs = put_many(backend, 3)
    assert claim(backend, limits=Limits()) == jobs
    assert not Limits()
    assert Limits(per_queue={"q": 1})


def test_jobs_without_a_user_alone_from_the_start_count_their_turn_too(backend):
    anonymous = put(backend).id
    assert claim(backend, limit=1) == [anonymous]
    put(backend)
    alice = put(backend, user_id="alice").id
    assert claim(backend, limit=1) == [alice]  # jobs without a user were just served


def cancel(backend, job_id, now=NOW):
    backend.job_cancel(job_id, now, now + 99, False)


def refused_settle(backend, job_id, now=NOW):
    """The worker's settle of a job canceled while it ran: refused, and its stop handled."""
    assert backend.jobs_settle([Settlement(job_id, "token-w-1", JobStatus.STOPPED, keep_until=now + 9)], now) == [False]


@pytest.mark.parametrize("limits", [Limits(per_user_max=1), Limits(global_max=1), Limits(per_queue={"default": 1}),
                                    Limits(per_job_type={"tests.jobfuncs.noop": 1})])  # fmt: skip
def test_a_job_canceled_while_it_runs_keeps_its_slot_until_its_worker_stops_it(backend, limits):
    # its worker runs it until it hears of the cancel: a job started in its place would
    # pass the limit meanwhile
    first, second = put_many(backend, 2, user_id="alice", func_name="tests.jobfuncs.noop")
    assert claim(backend, limits=limits) == [first]
    cancel(backend, first)
    assert claim(backend, limits=limits, worker="w-2") == []
    assert get(backend, second).status is JobStatus.QUEUED
    refused_settle(backend, first)
    assert claim(backend, limits=limits, worker="w-2") == [second]


def test_a_job_canceled_while_it_runs_keeps_its_slot_until_recovery_takes_its_lapsed_lease(backend):
    first, second = put_many(backend, 2, user_id="alice")
    limits = Limits(per_user_max=1)
    assert claim(backend, limits=limits) == [first]
    cancel(backend, first)
    lapsed = NOW + LEASE_TTL + 1
    assert claim(backend, limits=limits, worker="w-2", now=lapsed) == []  # not recovered yet: maybe still running
    assert backend.leases_recover(lapsed) == []  # nothing to report: it stays canceled
    assert get(backend, first).status is JobStatus.CANCELED
    assert backend.stop_requests("w-1") == []  # its worker is gone: nobody is left to stop it
    assert claim(backend, limits=limits, worker="w-2", now=lapsed) == [second]


def test_a_job_canceled_before_it_ran_holds_no_slot(backend):
    first, second = put_many(backend, 2, user_id="alice")
    cancel(backend, first)
    assert claim(backend, limits=Limits(per_user_max=1)) == [second]


def test_a_job_canceled_while_it_runs_is_requeued_once_stopped_and_then_counts_as_queued(backend):
    (first,) = put_many(backend, 1, user_id="alice")
    limits = Limits(per_user_max=1)
    assert claim(backend, limits=limits) == [first]
    cancel(backend, first)
    assert backend.jobs_requeue([first], NOW) == []  # still running
    refused_settle(backend, first)
    assert backend.jobs_requeue([first], NOW) == [first]
    assert claim(backend, limits=limits, worker="w-2") == [first]


def test_a_store_with_a_job_canceled_while_it_runs_is_sound(backend):
    (first,) = put_many(backend, 1, user_id="alice")
    claim(backend)
    cancel(backend, first)
    assert backend.invariants_check(NOW, False) == []
    seen = backend.job_inspect(first)
    assert (seen.status, seen.lease_owner, seen.lease_expires_at) == (JobStatus.CANCELED, "w-1", NOW + LEASE_TTL)
    refused_settle(backend, first)
    assert backend.invariants_check(NOW, False) == []
    assert backend.job_inspect(first).lease_owner is None
