"""RQ's at_front: a job whose record says ``at_front`` is claimed before every job of its
priority already queued (the latest such job first), each time it enters its queue;
priority stays absolute, listings keep their order by seq, positions follow the claim."""

from __future__ import annotations

from backend_conformance.helpers import NOW, claim, claim_ids, get, put, settle
from conveyor.status import BatchStatus, JobStatus
from conveyor.testing import make_record
from conveyor.types import RELEASED, BatchRecord


def queued_in_claim_order(backend) -> list[str]:
    """The queued ids as job_ids and queue_position both give them (they must agree)."""
    listed = backend.job_ids("default", [JobStatus.QUEUED])
    assert [backend.queue_position(job_id) for job_id in listed] == list(range(len(listed)))
    return listed


def test_an_at_front_job_goes_before_its_priority_the_latest_first(backend):
    put(backend, id="a")
    put(backend, id="front-1", at_front=True)
    put(backend, id="c")
    put(backend, id="front-2", at_front=True)
    put(backend, id="high", priority=5)
    put(backend, id="low-front", priority=-1, at_front=True)
    expected = ["high", "front-2", "front-1", "a", "c", "low-front"]
    assert queued_in_claim_order(backend) == expected
    assert backend.queue_position("front-2") == 1
    assert get(backend, "front-1").at_front and not get(backend, "a").at_front
    assert [claim_ids(backend, limit=1, token=f"t{n}") for n in range(7)] == [[job_id] for job_id in expected] + [[]]


def test_a_claim_of_many_comes_back_in_claim_order(backend):
    put(backend, id="a")
    put(backend, id="front", at_front=True)
    put(backend, id="b", priority=1)
    assert claim_ids(backend, limit=3) == ["b", "front", "a"]


def test_listings_keep_their_order_by_seq(backend):
    put(backend, id="a", user_id="alice")
    put(backend, id="front-1", at_front=True, user_id="alice")
    put(backend, id="high", priority=5, user_id="alice")
    put(backend, id="front-2", at_front=True, priority=5)
    put(backend, id="failed", status=JobStatus.FAILED)
    newest = backend.job_ids_newest("default", [JobStatus.QUEUED], None, 10)
    assert [job_id for job_id, _ in newest] == ["front-2", "high", "front-1", "a"]
    seqs = dict(newest)
    page = backend.job_ids_newest("default", [JobStatus.QUEUED], seqs["high"], 10)
    assert [job_id for job_id, _ in page] == ["front-1", "a"]
    page = backend.job_ids_newest("default", [JobStatus.QUEUED], seqs["front-1"], 10)
    assert [job_id for job_id, _ in page] == ["a"]
    hers = backend.job_ids_newest("default", [JobStatus.QUEUED], None, 10, "alice")
    assert [job_id for job_id, _ in hers] == ["high", "front-1", "a"]
    everything = backend.job_ids_newest(None, list(JobStatus), None, 10)
    assert [job_id for job_id, _ in everything] == ["failed", "front-2", "high", "front-1", "a"]
    assert backend.job_ids("default", [JobStatus.QUEUED, JobStatus.FAILED]) == [
        "a", "front-1", "high", "front-2", "failed",
    ]  # fmt: skip


def test_a_released_job_keeps_its_front_place_and_a_retried_one_goes_to_the_front_again(backend):
    put(backend, id="a")
    put(backend, id="front", at_front=True, max_retries=1)
    (claimed,) = claim(backend, limit=1)
    assert claimed.id == "front"
    put(backend, id="later-front", at_front=True)
    assert settle(backend, claimed, JobStatus.QUEUED, reason=RELEASED)
    assert queued_in_claim_order(backend) == ["later-front", "front", "a"], "released: its place, behind a later one"
    (claimed,) = claim(backend, limit=2, token="t2")[1:]
    assert claimed.id == "front"
    assert settle(backend, claimed, JobStatus.QUEUED, reason="error", count_retry=True, now=NOW + 1)
    assert queued_in_claim_order(backend) == ["front", "a"], "retried: at the front again"


def test_requeue_sets_at_front_or_keeps_each_jobs_own(backend):
    put(backend, id="waiting")
    put(backend, id="plain", status=JobStatus.FAILED)
    put(backend, id="front", status=JobStatus.FAILED, at_front=True)
    put(backend, id="demoted", status=JobStatus.FAILED, at_front=True)
    assert backend.jobs_requeue(["plain"], NOW, at_front=True) == ["plain"]
    assert backend.jobs_requeue(["front"], NOW) == ["front"]
    assert backend.jobs_requeue(["demoted"], NOW, at_front=False) == ["demoted"]
    assert queued_in_claim_order(backend) == ["front", "plain", "waiting", "demoted"]
    assert (get(backend, "plain").at_front, get(backend, "front").at_front) == (True, True)
    assert not get(backend, "demoted").at_front


def test_a_job_due_or_released_by_its_parent_goes_to_the_front(backend):
    parent = put(backend, id="parent", priority=1)
    put(backend, id="waiting")
    put(backend, id="child", status=JobStatus.DEFERRED, depends_on=("parent",), at_front=True)
    put(backend, id="due", status=JobStatus.SCHEDULED, scheduled_for=NOW + 10, at_front=True)
    put(backend, id="due-plain", status=JobStatus.SCHEDULED, scheduled_for=NOW + 10)
    assert backend.jobs_promote_due(NOW + 20) == 2
    assert queued_in_claim_order(backend) == ["parent", "due", "waiting", "due-plain"]
    (claimed,) = claim(backend, limit=1)
    assert claimed.id == parent.id
    assert settle(backend, claimed, JobStatus.FINISHED, now=NOW + 30)
    assert queued_in_claim_order(backend) == ["child", "due", "waiting", "due-plain"]


def test_with_users_sharing_the_queue_it_is_first_among_its_users_jobs(backend):
    put(backend, id="alice-1", user_id="alice")
    put(backend, id="bob-1", user_id="bob")
    put(backend, id="alice-2", user_id="alice")
    put(backend, id="alice-front", user_id="alice", at_front=True)
    claimed = claim_ids(backend, limit=4)
    assert [job_id for job_id in claimed if job_id.startswith("alice")] == ["alice-front", "alice-1", "alice-2"]
    assert claimed.index("bob-1") <= 1, "bob still gets his turn in the first round"


def test_a_scheduled_batchs_at_front_jobs_go_to_the_front_when_it_starts(backend):
    put(backend, id="waiting")
    batch = BatchRecord("b-1", total=2, created_at=NOW, status=BatchStatus.SCHEDULED, scheduled_start=NOW + 10)
    jobs = [
        make_record(id="b-plain", batch_id="b-1", status=JobStatus.SCHEDULED),
        make_record(id="b-front", batch_id="b-1", status=JobStatus.SCHEDULED, at_front=True),
    ]
    backend.batch_create(batch, jobs, [], NOW)
    assert backend.batches_start_due(NOW + 10) == 1
    assert queued_in_claim_order(backend) == ["b-front", "waiting", "b-plain"]
    assert [job_id for job_id, _ in backend.batch_job_ids("b-1", None, 10)] == ["b-front", "b-plain"]
