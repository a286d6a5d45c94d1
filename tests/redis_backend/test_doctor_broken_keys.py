"""The doctor on keys conveyor cannot read (set by hand, a bad restore): reported, never
a crash, and left alone by --repair; what reads them elsewhere says what is wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from conveyor.backends.redis.backend import RedisBackend
from conveyor.cli import cli
from conveyor.exceptions import BackendError
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import JobRecord, Settlement

NOW = 1_000_000.0


def _replace(backend: RedisBackend, key: str, *command: str) -> str:
    """Put what ``command`` writes where ``key`` was; returns the key."""
    backend._redis.delete(key)
    backend._redis.execute_command(*command)
    return key


def _set_field(backend: RedisBackend, job_id: str, field: str, value: str | None) -> str:
    if value is None:
        backend._redis.hdel(backend.keys.job(job_id), field)
    else:
        backend._redis.hset(backend.keys.job(job_id), field, value)
    return job_id


BREAKAGES: dict[str, Callable[[RedisBackend, str], str]] = {  # each returns the finding's subject
    "a job key that is a string": lambda b, j: _replace(b, b.keys.job(j), "SET", b.keys.job(j), "x") and j,
    "a job without a queue": lambda b, j: _set_field(b, j, "queue", None),
    "a job of no known status": lambda b, j: _set_field(b, j, "status", "bogus"),
    "a job whose dependencies are not JSON": lambda b, j: _set_field(b, j, "depends_on", "{"),
    "a job whose unmet set is not JSON": lambda b, j: _set_field(b, j, "unmet", "{"),
    "a queue that is a list": lambda b, j: _replace(
        b, b.keys.queued("default"), "RPUSH", b.keys.queued("default"), "x"
    ),
    "a lease index that is a string": lambda b, j: _replace(b, b.keys.leases, "SET", b.keys.leases, "x"),
    "a sequence that is not a number": lambda b, j: _replace(b, b.keys.seq, "SET", b.keys.seq, "abc"),
    "an event counter behind its stream": lambda b, j: (
        b._redis.xadd(b.keys.events, {"x": "y"}, id="1000-0") and b.keys.events_total
    ),
    "a worker registration that is not JSON": lambda b, j: b._redis.hset(b.keys.workers, "w1", "{") and "w1",
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_key_is_reported_and_left_alone(backend: RedisBackend, breakage: str) -> None:
    job = make_job(backend, now=NOW)
    subject = BREAKAGES[breakage](backend, job.id)
    for repair in (False, True):  # a repair of another finding that meets the key fails alone
        findings = backend.invariants_check(NOW, repair)
        broken = [f for f in findings if f.kind == "broken_key"]
        assert [(f.subject, f.repaired) for f in broken] == [(subject, False)], findings
    if subject == job.id:  # its index entries are not taken for orphans of a missing job
        assert findings == broken


def test_the_cli_exits_1_while_a_finding_cannot_be_repaired(backend: RedisBackend) -> None:
    backend._redis.set(backend.keys.seq, "abc")
    result = CliRunner().invoke(cli, ["doctor", "--repair", "--json", "-u", backend.url])
    assert result.exit_code == 1, result.output
    assert [f["kind"] for f in json.loads(result.output)["findings"]] == ["broken_key"]


def test_listings_leave_out_a_worker_registration_they_cannot_read(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend._redis.hset(backend.keys.workers, "w1", "{")
    with caplog.at_level(logging.WARNING):
        assert backend.workers_list() == []
    assert "conveyor doctor" in caplog.text


def test_a_key_of_another_type_is_named_as_one(backend: RedisBackend) -> None:
    backend._redis.rpush(backend.keys.queued("default"), "x")
    backend._redis.sadd(backend.keys.queues, "default")
    with pytest.raises(BackendError, match="WRONGTYPE.*conveyor doctor"):
        backend.counts()
    assert backend.jobs_count("default", [JobStatus.STARTED]) == 0


def test_a_scan_for_one_prefix_does_not_match_another_namespace(backend: RedisBackend) -> None:
    globbing = RedisBackend(backend.url.split("?")[0], prefix="g*")
    other = RedisBackend(backend.url.split("?")[0], prefix="gx")
    try:
        job = make_job(other, status=JobStatus.FINISHED, now=NOW, keep_until=NOW + 500, user_id="alice")
        assert globbing.invariants_check(NOW, repair=True) == []
        assert other.counts("alice") == {"default": {JobStatus.FINISHED: 1}}, "the other namespace is untouched"
        assert other.invariants_check(NOW, repair=False) == [], job
    finally:
        globbing.close()
        other.close()


def test_a_claimed_job_whose_record_cannot_be_read_is_failed_and_the_others_run(backend: RedisBackend) -> None:
    broken = make_job(backend, now=NOW)
    sound = make_job(backend, now=NOW)
    backend._redis.hset(backend.keys.job(broken.id), "priority", "abc")  # claimed in the order stored
    claimed = backend.jobs_claim(["default"], "w", 2, "t", NOW + 30, NOW)
    assert [r.id for r in claimed] == [sound.id]
    fields = backend._redis.hmget(backend.keys.job(broken.id), "status", "exc_info")
    assert fields[0] == b"failed" and b"priority holds b'abc'" in fields[1]
    with pytest.raises(BackendError, match="cannot be read: priority"):
        backend.jobs_get([broken.id])


def running_pair_with(backend: RedisBackend, field: str, value: str) -> tuple[JobRecord, JobRecord]:
    """Two jobs claimed with lease token 't'; the first with ``field`` set to ``value`` by hand."""
    broken, other = make_job(backend, now=NOW), make_job(backend, now=NOW)
    backend.jobs_claim(["default"], "w", 2, "t", NOW + 30, NOW)
    backend._redis.hset(backend.keys.job(broken.id), field, value)
    return broken, other


def test_a_running_job_whose_retry_counts_are_not_numbers_holds_no_other_recovery_back(
    backend: RedisBackend,
) -> None:
    broken, other = running_pair_with(backend, "max_retries", "x")
    recovered = backend.leases_recover(NOW + 60)
    assert sorted(r.job_id for r in recovered) == sorted([broken.id, other.id])


def test_a_retry_of_a_job_whose_retry_count_is_not_a_number_holds_no_other_outcome_back(
    backend: RedisBackend,
) -> None:
    broken, other = running_pair_with(backend, "retry_count", "x")
    applied = backend.jobs_settle(
        [
            Settlement(broken.id, "t", JobStatus.QUEUED, started_at=NOW, exc_info="boom", count_retry=True),
            Settlement(other.id, "t", JobStatus.FINISHED, started_at=NOW, result=b"1"),
        ],
        NOW + 1,
    )
    assert applied == [True, True]
    retried, finished = backend.jobs_get([broken.id, other.id])
    assert retried is not None and (retried.status, retried.retry_count) == (JobStatus.QUEUED, 1)
    assert finished is not None and finished.status is JobStatus.FINISHED


def test_a_parent_whose_child_has_an_unmet_set_that_is_not_json_settles(backend: RedisBackend) -> None:
    # the child is read as one stored before the set existed: from its parents' status
    parent = make_job(backend, now=NOW, status=JobStatus.STARTED, lease_token="t", lease_expires_at=NOW + 30)
    child = make_job(backend, now=NOW, depends_on=(parent.id,))
    backend._redis.hset(backend.keys.job(child.id), "unmet", "{")
    assert backend.jobs_settle([Settlement(parent.id, "t", JobStatus.FINISHED)], NOW) == [True]
    (released,) = backend.jobs_get([child.id])
    assert released is not None and released.status is JobStatus.QUEUED
