"""Reads: jobs_get, job_ids, jobs_count, counts, queue_position, and queue_empty."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import ALL_STATUSES, NOW, claim, put, settle, status
from conveyor.status import JobStatus

Q, S = JobStatus.QUEUED, JobStatus.STARTED


@pytest.fixture
def mixed(backend):
    """Jobs in two queues, enqueued in this order (ids deliberately not sorted)."""
    put(backend, id="m", queue="a")
    put(backend, JobStatus.FAILED, id="z", queue="a")
    put(backend, id="c", queue="b")
    put(backend, id="x", queue="a")
    put(backend, JobStatus.FINISHED, id="b", queue="a")
    put(backend, id="k", queue="a")


def test_jobs_get_answers_in_the_order_asked_with_none_for_missing(backend, mixed):
    records = backend.jobs_get(["x", "ghost", "m", "x"])
    assert [r.id if r else None for r in records] == ["x", None, "m", "x"]
    assert backend.jobs_get([]) == []


def test_job_ids_are_oldest_first(backend, mixed):
    assert backend.job_ids("a", [Q]) == ["m", "x", "k"]
    assert backend.job_ids(None, [Q]) == ["m", "c", "x", "k"]
    assert backend.job_ids("a", [JobStatus.FAILED, JobStatus.FINISHED]) == ["z", "b"]
    assert backend.job_ids("a", ALL_STATUSES) == ["m", "z", "x", "b", "k"]
    assert backend.job_ids("nowhere", ALL_STATUSES) == []


def test_job_ids_offset_and_limit(backend, mixed):
    assert backend.job_ids("a", ALL_STATUSES, offset=1, limit=2) == ["z", "x"]
    assert backend.job_ids("a", ALL_STATUSES, offset=3) == ["b", "k"]
    assert backend.job_ids("a", ALL_STATUSES, limit=1) == ["m"]
    assert backend.job_ids("a", ALL_STATUSES, offset=9) == []


def newest_ids(backend, queue, statuses, before=None, limit=10):
    return [job_id for job_id, _ in backend.job_ids_newest(queue, statuses, before, limit)]


def test_job_ids_newest_are_job_ids_backwards(backend, mixed):
    assert newest_ids(backend, "a", ALL_STATUSES) == ["k", "b", "x", "z", "m"]
    assert newest_ids(backend, None, ALL_STATUSES) == list(reversed(backend.job_ids(None, ALL_STATUSES)))
    assert newest_ids(backend, None, [Q]) == ["k", "x", "c", "m"]
    assert newest_ids(backend, "a", [JobStatus.FAILED, JobStatus.FINISHED]) == ["b", "z"]
    assert newest_ids(backend, "nowhere", ALL_STATUSES) == newest_ids(backend, "a", [S]) == []
    assert newest_ids(backend, "a", ALL_STATUSES, limit=0) == []


def test_job_ids_newest_pages_by_seq(backend, mixed):
    pages, before = [], None
    while page := backend.job_ids_newest("a", ALL_STATUSES, before, 2):
        pages.append([job_id for job_id, _ in page])
        seqs = [seq for _, seq in page]
        assert seqs == sorted(seqs, reverse=True) and (before is None or seqs[0] < before)
        before = seqs[-1]
    assert pages == [["k", "b"], ["x", "z"], ["m"]]


def test_job_ids_newest_order_queued_jobs_by_seq_not_priority(backend):
    for job_id, priority in [("low", -5), ("high", 9), ("plain", 0), ("higher", 10), ("lower", -6)]:
        put(backend, id=job_id, priority=priority)
    assert newest_ids(backend, None, [Q]) == ["lower", "higher", "plain", "high", "low"]
    (_, seq_of_plain), *_ = backend.job_ids_newest(None, [Q], None, 10)[2:]
    assert newest_ids(backend, None, [Q], before=seq_of_plain) == ["high", "low"]
    assert newest_ids(backend, None, [Q], limit=2) == ["lower", "higher"]


def test_a_requeued_job_counts_as_the_newest(backend, mixed):
    backend.jobs_requeue(["z"], NOW + 1)
    assert backend.job_ids("a", [Q]) == ["m", "x", "k", "z"]


def test_jobs_count(backend, mixed):
    assert backend.jobs_count("a", [Q]) == 3
    assert backend.jobs_count("a", [Q, JobStatus.FAILED]) == 4
    assert backend.jobs_count(None, [Q]) == 4
    assert backend.jobs_count("b", [JobStatus.FAILED]) == 0


def test_counts_per_queue_and_status(backend, mixed):
    claim(backend, ("a",), limit=1)
    counts = backend.counts()
    assert set(counts) == {"a", "b"}
    assert {s: n for s, n in counts["a"].items() if n} == {Q: 2, S: 1, JobStatus.FAILED: 1, JobStatus.FINISHED: 1}
    assert {s: n for s, n in counts["b"].items() if n} == {Q: 1}


def test_counts_drop_jobs_that_are_gone(backend, mixed):
    backend.queue_empty("b")
    backend.job_delete("z")
    counts = backend.counts()
    assert not any(counts.get("b", {}).values())
    assert counts["a"].get(JobStatus.FAILED, 0) == 0


def test_queue_position_follows_claim_order(backend):
    put(backend, id="first", queue="q")
    put(backend, id="urgent", queue="q", priority=5)
    put(backend, id="second", queue="q")
    put(backend, id="elsewhere", queue="other")
    positions = {i: backend.queue_position(i) for i in ("urgent", "first", "second", "elsewhere")}
    assert positions == {"urgent": 0, "first": 1, "second": 2, "elsewhere": 0}
    claim(backend, ("q",), limit=1)
    assert (backend.queue_position("urgent"), backend.queue_position("first")) == (None, 0)


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not Q])
def test_queue_position_is_none_when_not_queued(backend, job_status):
    job = put(backend, job_status)
    assert backend.queue_position(job.id) is None


def test_queue_position_of_a_missing_job(backend):
    assert backend.queue_position("ghost") is None


def test_queue_empty_deletes_only_the_queued_jobs_of_that_queue(backend, mixed):
    put(backend, JobStatus.SCHEDULED, id="later", queue="a")
    claim(backend, ("a",), limit=1)  # m starts
    assert backend.queue_empty("a") == 2
    assert backend.jobs_get(["x", "k"]) == [None, None]
    assert [status(backend, i) for i in ("m", "z", "b", "later", "c")] == [
        S,
        JobStatus.FAILED,
        JobStatus.FINISHED,
        JobStatus.SCHEDULED,
        Q,
    ]
    assert backend.queue_empty("a") == 0


def test_queued_ids_across_queues_follow_claim_order(backend):
    put(backend, id="low", queue="q1", priority=0)
    put(backend, id="high", queue="q2", priority=5)
    assert backend.job_ids(None, [JobStatus.QUEUED]) == ["high", "low"]


def test_a_page_of_zero_ids_is_empty(backend):
    put(backend, id="a")
    assert backend.job_ids("default", [JobStatus.QUEUED], 0, 0) == []
    assert backend.job_ids("default", [JobStatus.FAILED, JobStatus.STOPPED], 0, 0) == []


def test_pages_over_several_statuses_merge_in_order(backend):
    for n in range(6):
        put(backend, JobStatus.FAILED if n % 2 else JobStatus.STOPPED, id=f"job{n}")
    both = [JobStatus.FAILED, JobStatus.STOPPED]
    assert backend.job_ids("default", both, 0, 2) == ["job0", "job1"]
    assert backend.job_ids("default", both, 2, 3) == ["job2", "job3", "job4"]
    assert backend.job_ids("default", both) == [f"job{n}" for n in range(6)]


def test_one_users_jobs_are_listed_and_counted_apart(backend):
    put(backend, id="a1", queue="q", user_id="alice")
    put(backend, id="b1", queue="q", user_id="bob")
    put(backend, id="n1", queue="q")
    put(backend, id="a2", queue="r", user_id="alice", priority=5)
    put(backend, JobStatus.FAILED, id="a3", queue="q", user_id="alice")
    put(backend, JobStatus.SCHEDULED, id="a4", queue="q", user_id="alice")
    put(backend, id="b2", queue="r", user_id="bob")
    (started,) = claim(backend, ("q",), limit=1)  # the claim's and the settle's own index writes
    assert started.id == "a1" and settle(backend, started, JobStatus.FINISHED, keep_until=NOW + 500)

    def mine(statuses=ALL_STATUSES, queue=None, before=None, limit=10, user="alice"):
        return [job_id for job_id, _ in backend.job_ids_newest(queue, statuses, before, limit, user)]

    assert mine() == ["a4", "a3", "a2", "a1"]
    assert mine([Q]) == ["a2"] and mine([JobStatus.FINISHED]) == ["a1"] and mine(queue="r") == ["a2"]
    assert mine(user="bob") == ["b2", "b1"] and mine(user="carol") == []
    (_, seq_of_a3), *_ = backend.job_ids_newest(None, ALL_STATUSES, None, 10, "alice")[1:]
    assert mine(before=seq_of_a3, limit=1) == ["a2"]
    assert backend.counts("alice") == {"q": {JobStatus.FINISHED: 1, JobStatus.FAILED: 1, JobStatus.SCHEDULED: 1},
                                       "r": {Q: 1}}  # fmt: skip
    assert backend.counts("bob") == {"q": {Q: 1}, "r": {Q: 1}} and backend.counts("carol") == {}

    backend.job_delete("a3")
    backend.job_cancel("a2", NOW, None, False)
    backend.jobs_requeue(["a2"], NOW + 1)  # canceled, then queued again: the newest of hers
    assert mine() == ["a2", "a4", "a1"]
    assert backend.counts("alice") == {"q": {JobStatus.FINISHED: 1, JobStatus.SCHEDULED: 1}, "r": {Q: 1}}
