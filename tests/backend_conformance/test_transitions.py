"""The state machine: every status change a backend makes is one conveyor.status allows.

Each scenario stores a job J in some status (with a running parent P that a deferred J
waits on), applies one operation, and compares every job's status before and after.
The suite-wide ``backend`` fixture audits every other test the same way; this module
makes sure each operation is tried from each status, and that between them the
operations perform every transition the table allows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from backend_conformance.helpers import (
    ALL_STATUSES,
    ALLOWED,
    NOW,
    Transition,
    claim,
    clear,
    put,
    settle,
    snapshot,
    transitions,
)
from conveyor.backends.base import Backend
from conveyor.exceptions import InvalidJobOperation
from conveyor.status import TERMINAL, JobStatus, can_transition
from conveyor.types import JobRecord

TIME_PASSED = NOW + 100
Operation = Callable[[Backend, JobRecord, JobRecord], object]


def settling(outcome: JobStatus, **fields: object) -> Operation:
    return lambda b, job, parent: settle(b, job, outcome, token=job.lease_token or "no-lease", **fields)


OPERATIONS: dict[str, Operation] = {
    "claim": lambda b, job, parent: claim(b),
    "cancel": lambda b, job, parent: b.job_cancel(job.id, NOW, None, False),
    "cancel-enqueue-dependents": lambda b, job, parent: b.job_cancel(job.id, NOW, None, True),
    "request-stop": lambda b, job, parent: b.job_request_stop(job.id, NOW),
    "requeue": lambda b, job, parent: b.jobs_requeue([job.id], NOW),
    "settle-finished": settling(JobStatus.FINISHED),
    "settle-failed": settling(JobStatus.FAILED),
    "settle-stopped": settling(JobStatus.STOPPED),
    "settle-retry": settling(JobStatus.QUEUED, count_retry=True),
    "settle-retry-later": settling(JobStatus.SCHEDULED, count_retry=True, scheduled_for=NOW + 60),
    "settle-release": settling(JobStatus.QUEUED),
    "finish-parent": lambda b, job, parent: settle(b, parent, JobStatus.FINISHED),
    "fail-parent": lambda b, job, parent: settle(b, parent, JobStatus.FAILED),
    "promote": lambda b, job, parent: b.jobs_promote_due(TIME_PASSED),
    "expire": lambda b, job, parent: b.jobs_expire(TIME_PASSED),
    "recover": lambda b, job, parent: b.leases_recover(TIME_PASSED),
    "purge": lambda b, job, parent: b.jobs_purge(TIME_PASSED, 100),
    "empty": lambda b, job, parent: b.queue_empty("default"),
}


def run_scenario(
    backend: Backend, job_status: JobStatus, operation: str, waits_on_parent: bool = False
) -> set[Transition]:
    """Apply one operation to a job in ``job_status``; return the transitions it made.

    ``waits_on_parent`` makes J depend on P whatever its status, and a deferred J also
    have a time of its own (so its release makes it scheduled).
    """
    put(backend, id="P", queue="parents")
    (parent,) = claim(backend, ("parents",), token="parent-token")
    fields: dict[str, object] = {"id": "J", "max_retries": 1, "expires_at": NOW + 5}
    if job_status is JobStatus.DEFERRED or waits_on_parent:
        fields["depends_on"] = ("P",)
    if job_status is JobStatus.SCHEDULED or (waits_on_parent and job_status is JobStatus.DEFERRED):
        fields["scheduled_for"] = NOW + 5
    if job_status in TERMINAL:
        fields["keep_until"] = NOW + 5
    job = put(backend, job_status, **fields)
    before = snapshot(backend)
    with contextlib.suppress(InvalidJobOperation):
        OPERATIONS[operation](backend, job, parent)
    made = transitions(before, snapshot(backend))
    for job_id, old, new in made:
        assert can_transition(old, new), f"{operation} moved {job_id} from {old} to {new}"
    return {(old, new) for _, old, new in made}


@pytest.mark.parametrize("waits_on_parent", [False, True])
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("job_status", ALL_STATUSES)
def test_every_transition_is_allowed(backend, job_status, operation, waits_on_parent):
    run_scenario(backend, job_status, operation, waits_on_parent)


def test_the_operations_perform_every_allowed_transition(backend):
    performed: set[Transition] = set()
    for job_status in ALL_STATUSES:
        for operation in OPERATIONS:
            for waits_on_parent in (False, True):
                performed |= run_scenario(backend, job_status, operation, waits_on_parent)
                clear(backend)
    assert performed == ALLOWED
