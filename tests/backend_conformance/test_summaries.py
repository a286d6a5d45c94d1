"""jobs_summaries: what a listing shows of jobs, read without their large values."""

from __future__ import annotations

import dataclasses

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


def test_a_traceback_within_the_limit_comes_whole(backend) -> None:
    put(backend, id="doomed")
    (record,) = claim(backend)
    traceback = "T" * (SUMMARY_EXC_INFO_LIMIT - 1) + "\n"
    assert settle(backend, record, JobStatus.FAILED, exc_info=traceback, keep_until=NOW + 500)
    (summary,) = backend.jobs_summaries(["doomed"])
    assert summary is not None and summary.status is JobStatus.FAILED
    assert summary.exc_info == traceback


def test_a_long_traceback_comes_as_its_end(backend) -> None:
    """Its last line is the error a listing shows: a long traceback keeps it."""
    put(backend, id="doomed")
    (record,) = claim(backend)
    frames = "".join(f"  frame {n}: caf\u00e9\n" for n in range(2_000))
    traceback = "Traceback (most recent call last):\n" + frames + "ValueError: deep\n"
    assert settle(backend, record, JobStatus.FAILED, exc_info=traceback, keep_until=NOW + 500)
    (summary,) = backend.jobs_summaries(["doomed"])
    assert summary is not None and summary.exc_info is not None
    assert len(summary.exc_info) <= SUMMARY_EXC_INFO_LIMIT  # (characters; bytes on Redis)
    assert summary.exc_info.endswith("  frame 1999: caf\u00e9\nValueError: deep\n")
    assert traceback.endswith(summary.exc_info)
    assert get(backend, "doomed").exc_info == traceback  # the record keeps it whole


def test_a_long_last_line_comes_as_its_end(backend) -> None:
    put(backend, id="doomed")
    (record,) = claim(backend)
    traceback = "Traceback ...\nValueError: " + "\u00e9" * SUMMARY_EXC_INFO_LIMIT + "?!\n"  # 2 bytes a letter
    assert settle(backend, record, JobStatus.FAILED, exc_info=traceback, keep_until=NOW + 500)
    (summary,) = backend.jobs_summaries(["doomed"])
    assert summary is not None and summary.exc_info is not None
    assert summary.exc_info.endswith("\u00e9?!\n") and traceback.endswith(summary.exc_info)  # none cut in two
    assert len(summary.exc_info) <= SUMMARY_EXC_INFO_LIMIT
