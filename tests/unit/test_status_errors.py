"""Status errors: one base class, worded in the library's status names or another's."""

from __future__ import annotations

import pytest

from conveyor.backends.base import Backend
from conveyor.exceptions import (
    STATUS_MARK,
    InvalidBatchOperation,
    InvalidJobOperation,
    JobIdInUseError,
    StatusError,
)
from conveyor.server.errors import rest_wording
from conveyor.status import BatchStatus, JobStatus
from conveyor.testing import make_job


def test_every_status_error_shares_the_base_and_reads_in_library_words() -> None:
    errors: list[StatusError] = [
        InvalidJobOperation("j1", "queued", f"Cannot requeue job j1: it is {STATUS_MARK}"),
        InvalidBatchOperation.already("cancel", "b1", "canceled"),
        JobIdInUseError("j2", "started"),
    ]
    assert [str(error) for error in errors] == [
        "Cannot requeue job j1: it is queued",
        "Cannot cancel batch b1: it is already canceled",
        "Job id 'j2' is already used by a started job",
    ]
    assert [rest_wording(error) for error in errors] == [
        "Cannot requeue job j1: it is pending",
        "Cannot cancel batch b1: it is already cancelled",
        "Job id 'j2' is already used by a running job",
    ]


def test_only_the_status_is_reworded_not_an_id_that_looks_like_one() -> None:
    error = InvalidJobOperation("queued", "queued", f"Cannot requeue job queued: it is {STATUS_MARK}")
    assert str(error) == "Cannot requeue job queued: it is queued"
    assert rest_wording(error) == "Cannot requeue job queued: it is pending"


@pytest.mark.parametrize(
    ("operation", "status", "says"),
    [("cancel", JobStatus.FINISHED, "it is already completed"), ("stop", JobStatus.QUEUED, "(status pending)")],
)
def test_errors_from_either_backend_reword_to_rest(
    backend: Backend, operation: str, status: JobStatus, says: str
) -> None:
    job_id = make_job(backend, status=status).id
    with pytest.raises(InvalidJobOperation) as raised:
        if operation == "cancel":
            backend.job_cancel(job_id, 1.0, None, False)
        else:
            backend.job_request_stop(job_id, 1.0)
    assert raised.value.status == status.value and status.value in str(raised.value)
    assert says in rest_wording(raised.value)


def test_batch_statuses_reword_too() -> None:
    error = InvalidBatchOperation.already("start", "b", BatchStatus.CANCELED.value)
    assert rest_wording(error).endswith("already cancelled")
