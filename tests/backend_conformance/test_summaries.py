"""jobs_summaries: what a listing shows of jobs, read without their large values."""

from __future__ import annotations

import dataclasses

import pytest

from backend_conformance.helpers import NOW, claim, get, put, settle
from conveyor.backends.base import SUMMARY_EXC_INFO_LIMIT
from conveyor.status import JobStatus
from conveyor.types import JobRecord, JobSummaryRecord

SUMMARY_FIELDS = [field.name for field in dataclasses.fields(JobSummaryRecord)]
BIG = b"x" * 100_000


def summary_of(record: JobRecord) -> JobSummaryRecord:
    """The summary a backend must give of a stored record whose exc_info is short."""
    return JobSummaryRecord(**{name: getattr(record, name) for name in SUMMARY_FIELDS})


def test_summary_fields_are_job_record_fields_with_the_same_defaults() -> None:
    """A store leaves fields at their default unwritten (Redis): a summary reads them so."""
    full = {field.name: field for field in dataclasses.fields(JobRecord)}
    for field in dataclasses.fields(JobSummaryRecord):
        assert (field.type, field.default) == (full[field.name].type, full[field.name].default), field.name


def test_a_summary_holds_the_records_own_values_in_every_state(backend) -> None:
    put(backend, id="running", user_id="bob", args=[BIG.decode()])
    claim(backend, worker="w-7")
    backend.job_update("running", NOW, progress=0.5)
    put(backend, id="plain")
    put(
        backend,
        JobStatus.SCHEDULED,
        id="rich",
        queue="mail",
        priority=7,
        user_id="alice",
        max_retries=3,
        retry_count=2,
        progress=0.25,
        batch_id="b-1",
        args=[BIG.decode()],
        meta=BIG,
        metrics=b'{"items_processed": 1}',
    )
    put(backend, JobStatus.FINISHED, id="done", result=BIG)
    put(backend, JobStatus.FAILED, id="failed", exc_info="Traceback ...\nValueError: short\n")
    ids = ["running", "plain", "rich", "done", "failed"]
    summaries = backend.jobs_summaries(ids)
    assert summaries == [summary_of(get(backend, job_id)) for job_id in ids]
    assert summaries[0] is not None and summaries[4] is not None
    assert (summaries[0].status, summaries[0].worker_name, summaries[0].progress) == (JobStatus.STARTED, "w-7", 0.5)
    assert summaries[4].exc_info == "Traceback ...\nValueError: short\n"


def test_summaries_answer_in_the_order_asked_with_none_for_missing(backend) -> None:
    put(backend, id="a")
    put(backend, id="b")
    assert [s.id if s else None for s in backend.jobs_summaries(["b", "ghost", "a", "b"])] == ["b", None, "a", "b"]
    assert backend.jobs_summaries([]) == []


@pytest.mark.parametrize(("length", "kept"), [(SUMMARY_EXC_INFO_LIMIT, True), (SUMMARY_EXC_INFO_LIMIT + 1, False)])
def test_a_long_traceback_is_left_out_of_a_summary(backend, length: int, kept: bool) -> None:
    put(backend, id="doomed")
    (record,) = claim(backend)
    traceback = "T" * (length - 1) + "\n"
    assert settle(backend, record, JobStatus.FAILED, exc_info=traceback, keep_until=NOW + 500)
    (summary,) = backend.jobs_summaries(["doomed"])
    assert summary is not None and summary.status is JobStatus.FAILED
    assert summary.exc_info == (traceback if kept else None)
    assert get(backend, "doomed").exc_info == traceback  # the record keeps it whole
