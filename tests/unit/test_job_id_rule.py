"""One job-id rule (conveyor.ids), the same wherever an id is given for a new job, and
ids breaking it are simply not found where jobs are read."""

from __future__ import annotations

import pytest

import jobfuncs
from conveyor import Batch, Job, Queue
from conveyor.backends.base import Backend
from conveyor.exceptions import InvalidJobError, InvalidJobIdError, NoSuchJobError
from conveyor.ids import JOB_ID_RULE, job_id_problem, validate_job_id

BROKEN = ["", " a", "a ", "a/b", "/", ".", "..", "stats", "x" * 201, "a\nb", "a\x00b", "a\x7fb"]
GOOD = ["a", "x" * 200, "my-job.1", "...", "stats2", "Stats", "a b", "\u4e2d\u6587", "a:b", "a\\b"]


@pytest.mark.parametrize("job_id", BROKEN)
def test_an_id_breaking_the_rule_is_refused_naming_the_rule(job_id: str) -> None:
    assert job_id_problem(job_id) is not None
    with pytest.raises(InvalidJobIdError) as raised:
        validate_job_id(job_id)
    assert JOB_ID_RULE in str(raised.value)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, InvalidJobError)


@pytest.mark.parametrize("job_id", GOOD)
def test_ids_within_the_rule_are_taken(job_id: str) -> None:
    assert job_id_problem(job_id) is None
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", [None, 1, b"ab", ["a"]])
def test_an_id_is_a_string(job_id: object) -> None:
    with pytest.raises(InvalidJobIdError, match="string"):
        validate_job_id(job_id)


@pytest.mark.parametrize("job_id", ["a/b", "stats", "..", " a"])
def test_every_library_way_to_name_a_new_job_applies_the_rule(backend: Backend, job_id: str) -> None:
    queue = Queue(connection=backend)
    attempts = [
        lambda: queue.enqueue(jobfuncs.noop, job_id=job_id),
        lambda: queue.enqueue_call(jobfuncs.noop, job_id=job_id),
        lambda: queue.enqueue_many([Queue.prepare_data(jobfuncs.noop, job_id=job_id)]),
        lambda: Job.create(jobfuncs.noop, id=job_id, connection=backend),
        lambda: queue.enqueue_job(Job(job_id, connection=backend)),
        lambda: Batch.create([Job(job_id, connection=backend)], queue=queue),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidJobIdError, match="job id"):
            attempt()
    assert backend.counts() == {}


@pytest.mark.parametrize("job_id", ["a/b", "stats", "..", "", "x" * 5000, "a\x00b"])
def test_reading_an_id_breaking_the_rule_finds_nothing(backend: Backend, job_id: str) -> None:
    queue = Queue(connection=backend)
    queue.enqueue(jobfuncs.noop)
    with pytest.raises(NoSuchJobError):
        Job.fetch(job_id, connection=backend)
    assert Job.fetch_many([job_id], connection=backend) == [None]
    assert not Job.exists(job_id, connection=backend)
    assert queue.fetch_job(job_id) is None
