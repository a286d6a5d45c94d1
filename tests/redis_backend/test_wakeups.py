"""The wake-up lists idle workers block on: one per queue, one token per job made ready,
at most 16 waiting; the halt list beside them, that a stopping worker's wait pops; the
wake-ups that go on to another worker when the one that took them will not claim; and
the held marks that wake a held job's queue when a slot it waits for frees."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put, settle, status
from conveyor.backends.redis.backend import HALT_TTL, RedisBackend
from conveyor.halt import Halt
from conveyor.status import JobStatus
from conveyor.types import Limits
from waiting import wait_until

T = TypeVar("T")


def test_each_queued_job_leaves_a_token_and_no_more_than_sixteen_wait(backend: RedisBackend) -> None:
    for expected in range(1, 17):
        put(backend)
        assert backend._redis.llen(backend.keys.wake("default")) == expected
    for _ in range(50):
        put(backend)
    assert backend._redis.llen(backend.keys.wake("default")) == 16


def test_a_paused_queue_gets_no_token_until_resumed_and_then_one_per_job(backend: RedisBackend) -> None:
    """A token would wake a worker of the paused queue for nothing, once per job enqueued."""
    put(backend)
    assert backend._redis.llen(backend.keys.wake("default")) == 1
    backend.queues_pause(["default"], NOW)
    assert backend._redis.llen(backend.keys.wake("default")) == 0, "the tokens left would wake workers in vain"
    for _ in range(2):
        put(backend)
    assert backend._redis.llen(backend.keys.wake("default")) == 0
    backend.queues_resume(["default"])
    assert backend._redis.llen(backend.keys.wake("default")) == 3


def test_a_waiting_claim_takes_a_token_and_the_job_in_one_round(backend: RedisBackend) -> None:
    job = put(backend)
    (claimed,) = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + 30, NOW, None, 5)
    assert claimed.id == job.id
    assert backend._redis.llen(backend.keys.wake("default")) == 0
    assert claim(backend) == []


def blocked_clients(backend: RedisBackend) -> int:
    return int(backend._redis.info("clients")["blocked_clients"])


def halted_once_blocked(backend: RedisBackend, halt: Halt, call: Callable[[], T]) -> T:
    """Run ``call`` on a thread, set ``halt`` once it blocks in Redis, and return what
    ``call`` returned."""
    before = blocked_clients(backend)
    returned: list[T] = []
    waiting = threading.Thread(target=lambda: returned.append(call()), daemon=True)
    waiting.start()
    wait_until(lambda: blocked_clients(backend) > before, message="the wait to block in Redis")
    halt.set()
    waiting.join(20)
    assert not waiting.is_alive(), "the halt ended the wait"
    return returned[0]


def test_a_halt_ends_a_blocked_wait_and_its_key_goes_with_the_pop(backend: RedisBackend) -> None:
    halt = Halt()
    try:
        halted_once_blocked(backend, halt, lambda: backend.wait_for_jobs(["default"], 30, halt))
        assert not backend._redis.exists(backend.keys.halt(halt.token)), "popped, the key is gone"
    finally:
        halt.close()


def test_a_halt_no_wait_popped_leaves_a_key_that_expires(backend: RedisBackend) -> None:
    halt = Halt()
    halt.set()
    key = backend.keys.halt(halt.token)
    try:
        backend.wait_for_jobs(["default"], 30, halt)  # set already: returns at once; the halt pushes all the same
        wait_until(lambda: backend._redis.exists(key), message="the halt's push")
        assert 0 < backend._redis.ttl(key) <= HALT_TTL
        assert key.startswith(backend.keys.base), "in the namespace's hash slot"
    finally:
        halt.close()


def test_a_claim_whose_wait_a_halt_ended_claims_nothing(backend: RedisBackend) -> None:
    # the claim is sent with the pop, and Redis runs it once the halt's token is popped;
    # a job queued meanwhile (its token taken by another worker's wait) stays queued
    job = put(backend)
    backend._redis.delete(backend.keys.wake("default"))
    halt = Halt()

    def claim_waiting() -> list[str]:
        records = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + 30, NOW, None, 30, halt)
        return [record.id for record in records]

    try:
        assert halted_once_blocked(backend, halt, claim_waiting) == [], "a stopping worker claims nothing"
        assert status(backend, job.id) is JobStatus.QUEUED
        assert claim_waiting() == [job.id], "a claim halted before it began does not wait, and claims"
    finally:
        halt.close()


def test_each_queue_has_its_own_wakeup_list(backend: RedisBackend) -> None:
    put(backend, queue="mail")
    put(backend, queue="mail")
    put(backend, queue="reports")
    assert backend._redis.llen(backend.keys.wake("mail")) == 2
    assert backend._redis.llen(backend.keys.wake("reports")) == 1
    assert backend._redis.llen(backend.keys.wake("default")) == 0


def test_a_wait_takes_only_its_own_queues_wakeups(backend: RedisBackend) -> None:
    put(backend, queue="mail")
    backend.wait_for_jobs(["default"], 0.05)  # times out: the mail job's token is not its to take
    assert backend._redis.llen(backend.keys.wake("mail")) == 1
    backend.wait_for_jobs(["default", "mail"], 30)
    assert backend._redis.llen(backend.keys.wake("mail")) == 0


def test_a_wakeup_taken_by_a_worker_that_will_not_claim_goes_back(backend: RedisBackend) -> None:
    # a wait on the worker's waiting thread outlives its idle wait: full or stopping by
    # the time it takes the token, the worker gives it back for another
    put(backend)
    backend.wait_for_jobs(["default"], 30, None, lambda: False)
    assert backend._redis.llen(backend.keys.wake("default")) == 1, "given back"
    backend.wait_for_jobs(["default"], 30, None, lambda: True)
    assert backend._redis.llen(backend.keys.wake("default")) == 0, "taken, to be acted on"


def test_a_claim_halted_after_its_pop_took_a_wakeup_passes_it_on(backend: RedisBackend) -> None:
    # the halt came between the pop (which took the job's token) and the claim: the
    # stopping worker claims nothing, and another worker must still hear of the job
    job = put(backend, queue="mail")
    halt = Halt()
    backend._redis.set(backend.keys.halted(halt.token), "1", ex=HALT_TTL)  # what the halt's push leaves
    try:
        records = backend.jobs_claim(["default", "mail"], "w-1", 10, "token-1", NOW + 30, NOW, None, 30, halt)
        assert records == []
        assert backend._redis.llen(backend.keys.wake("mail")) == 1, "passed on: mail holds a job"
        assert backend._redis.llen(backend.keys.wake("default")) == 0, "nothing waits in default"
        assert [r.id for r in claim(backend, ("mail",))] == [job.id]
    finally:
        halt.close()


def test_a_job_held_by_a_limit_is_woken_for_when_a_running_job_frees_its_slot(backend: RedisBackend) -> None:
    put(backend, queue="first", user_id="alice")
    (record,) = claim(backend, ("first",))
    put(backend, queue="second", user_id="alice")
    backend._redis.delete(backend.keys.wake("second"))  # its token, taken by a worker the limit held back
    limits = Limits(per_user_max=1)
    assert backend.jobs_claim(["second"], "w-2", 10, "t-2", NOW + LEASE_TTL, NOW, limits) == []
    assert backend._redis.hgetall(backend.keys.base + "heldby") == {b"user:alice": b"second"}
    assert settle(backend, record, JobStatus.FINISHED)
    assert backend._redis.llen(backend.keys.wake("second")) == 1, "the held job's workers woken"
    assert not backend._redis.exists(backend.keys.base + "heldby"), "until a claim holds a job back again"


def test_a_limit_held_in_several_queues_names_each_once(backend: RedisBackend) -> None:
    put(backend, queue="first", user_id="alice")
    (record,) = claim(backend, ("first",))
    limits = Limits(per_user_max=1)
    for queue in ("second", "third", "second"):
        put(backend, queue=queue, user_id="alice")
        assert backend.jobs_claim([queue], "w-2", 10, "t-2", NOW + LEASE_TTL, NOW, limits) == []
    assert backend._redis.hgetall(backend.keys.base + "heldby") == {b"user:alice": b"second\nthird"}
    for queue in ("second", "third"):
        backend._redis.delete(backend.keys.wake(queue))
    assert settle(backend, record, JobStatus.FINISHED)
    assert [backend._redis.llen(backend.keys.wake(queue)) for queue in ("second", "third")] == [1, 1]


def test_a_wakeup_given_back_keeps_the_list_within_its_cap(backend: RedisBackend) -> None:
    # jobs made ready between the pop and the give-back filled the list again meanwhile
    put(backend)

    def filled_meanwhile() -> bool:
        for _ in range(20):
            put(backend)
        return False

    backend.wait_for_jobs(["default"], 30, None, filled_meanwhile)
    assert backend._redis.llen(backend.keys.wake("default")) == 16


def heldby(backend: RedisBackend) -> dict[bytes, bytes]:
    return backend._redis.hgetall(backend.keys.base + "heldby")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("limits", "fields", "mark"),
    [
        (Limits(global_max=1), {}, b"global"),
        (Limits(per_queue={"second": 1}), {}, b"queue:second"),
        (Limits(per_user_max=1), {"user_id": "alice"}, b"user:alice"),
        (Limits(per_job_type={"jobs.render": 1}), {"func_name": "jobs.render"}, b"type:jobs.render"),
    ],
    ids=["global", "per queue", "per user", "per job type"],
)
def test_a_claim_that_fills_its_batch_and_a_limit_marks_the_limit_for_the_jobs_it_leaves(
    backend: RedisBackend, limits: Limits, fields: dict[str, str], mark: bytes
) -> None:
    # the claim takes one job (its batch), which fills the limit, and never reads the job
    # behind it: the wake-up that brought it may have taken that job's mark (a token wakes
    # one worker), and the next slot to free must wake another idle worker of the queue
    for _ in range(2):
        put(backend, queue="second", **fields)
    (taken,) = backend.jobs_claim(["second"], "w-2", 1, "t-2", NOW + LEASE_TTL, NOW, limits)
    assert heldby(backend) == {mark: b"second"}
    backend._redis.delete(backend.keys.wake("second"))
    assert settle(backend, taken, JobStatus.FINISHED)
    assert backend._redis.llen(backend.keys.wake("second")) == 1, "the job left behind woken for"


def test_a_claim_that_fills_its_batch_under_a_limit_with_room_marks_nothing(backend: RedisBackend) -> None:
    for _ in range(2):
        put(backend, queue="second", user_id="alice")
    limits = Limits(global_max=5, per_user_max=2)
    assert len(backend.jobs_claim(["second"], "w-2", 1, "t-2", NOW + LEASE_TTL, NOW, limits)) == 1
    assert heldby(backend) == {}


def test_a_claim_that_fills_its_batch_in_one_queue_marks_the_held_jobs_of_the_next(backend: RedisBackend) -> None:
    # the held job of "second" was marked; a slot freed, and the token for it went to a
    # worker of "first" and "second", whose claim filled its batch and the cap from
    # "first" and never read "second": the idle worker of "second" must hear of the next slot
    limits = Limits(global_max=2)
    running = [put(backend, queue="other") for _ in range(2)]
    first, last = backend.jobs_claim(["other"], "w-1", 2, "t-1", NOW + LEASE_TTL, NOW)
    held = put(backend, queue="second")
    assert backend.jobs_claim(["second"], "w-2", 1, "t-2", NOW + LEASE_TTL, NOW, limits) == [], "held"
    put(backend, queue="first")
    assert settle(backend, first, JobStatus.FINISHED)
    backend._redis.delete(backend.keys.wake("first"), backend.keys.wake("second"))  # the tokens, taken
    (taken,) = backend.jobs_claim(["first", "second"], "w-3", 1, "t-3", NOW + LEASE_TTL, NOW, limits)
    assert taken.queue == "first"
    assert settle(backend, last, JobStatus.FINISHED)
    assert backend._redis.llen(backend.keys.wake("second")) >= 1, "the held job waits out the poll"
    assert [r.id for r in backend.jobs_claim(["second"], "w-2", 1, "t-4", NOW + LEASE_TTL, NOW, limits)] == [held.id]
    assert {r.id for r in (first, last)} == {r.id for r in running}


def test_a_rated_claim_after_a_wait_counts_its_starts_at_the_waits_end(backend: RedisBackend) -> None:
    # sent with the pop, the claim logged its starts at now, from before the wait: a
    # claim a period after that now, but less than a period after the start, took more
    first, second = put(backend, queue="emails"), put(backend, queue="emails")
    backend._redis.delete(backend.keys.wake("emails"))  # no token: the wait lasts its 0.3 s
    limits = Limits(per_queue_rate={"emails": "1/10s"})
    (claimed,) = backend.jobs_claim(["emails"], "w-1", 1, "token-1", NOW + 30, NOW, limits, 0.3)
    assert claimed.id == first.id
    assert backend.jobs_claim(["emails"], "w-2", 1, "token-2", NOW + 40, NOW + 10.1, limits) == [], "held"
    (claimed,) = backend.jobs_claim(["emails"], "w-2", 1, "token-3", NOW + 42, NOW + 12, limits)
    assert claimed.id == second.id
