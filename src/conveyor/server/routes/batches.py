"""/api/v1/batches: create, list, inspect, start, reschedule and cancel batches."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from conveyor.batch import Batch
from conveyor.exceptions import NoSuchBatchError
from conveyor.server import auditing, batch_service, cursors
from conveyor.server.batch_schemas import (
    BatchBackendView,
    BatchCancelled,
    BatchCreated,
    BatchDetail,
    BatchList,
    CreateBatch,
    Reschedule,
)
from conveyor.server.deps import Caller, State
from conveyor.server.errors import validation_error
from conveyor.server.responses import COMMON, batch_errors, errors
from conveyor.server.strict_query import StrictQueryRoute
from conveyor.status import BatchStatus

router = APIRouter(prefix="/api/v1/batches", tags=["batches"], responses=errors(*COMMON), route_class=StrictQueryRoute)

BatchIdPath = Annotated[str, Path(description="The batch's id.", max_length=200)]


@router.post("", status_code=201, response_model=BatchCreated, responses=batch_errors(400, 413, 415))
def create_batch(spec: CreateBatch, state: State, caller: Caller, response: Response) -> BatchCreated:
    """Create a batch and all its jobs in one atomic step (a bad spec creates nothing)."""
    batch, job_ids = batch_service.create(state.backend, caller, spec, state.settings.max_batch_jobs)
    response.headers["Location"] = f"{router.prefix}/{batch.id}"
    return BatchCreated(batch_id=batch.id, status=batch_service.rest(batch.status), job_ids=job_ids)


@router.get("", response_model=BatchList, responses=batch_errors(400))
def list_batches(
    state: State,
    caller: Caller,
    user: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Admins: batches of this user.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page.")] = None,
) -> BatchList:
    """Batches newest first, one page at a time (a user's own: naming another user lists none)."""
    if not caller.is_admin and user not in (None, caller.user_id):
        return BatchList(data=[], next_cursor=None)
    owner = caller.user_id if not caller.is_admin else user
    scope = owner or ""
    before = None if cursor is None else cursors.decode("batches", cursor, scope)
    found = Batch.list(state.backend, user_id=owner, before=before, limit=limit + 1)
    page = found[:limit]
    next_cursor = cursors.encode("batches", page[-1].id, scope) if len(found) > limit else None
    return BatchList(data=[batch_service.detail(batch) for batch in page], next_cursor=next_cursor)


@router.get("/{batch_id}", response_model=BatchDetail, responses=batch_errors(404))
def batch_detail(batch_id: BatchIdPath, state: State, caller: Caller) -> BatchDetail:
    """The batch with its jobs' counts per status and its progress."""
    return batch_service.detail(batch_service.visible(state.backend, caller, batch_id))


@router.post("/{batch_id}/start", response_model=BatchDetail, responses=batch_errors(404, 409))
def start_batch(batch_id: BatchIdPath, state: State, caller: Caller) -> BatchDetail:
    """Start a scheduled batch now."""
    batch = batch_service.visible(state.backend, caller, batch_id)
    batch.start()
    auditing.record(state, caller, "batch.start", batch_id)
    return batch_service.detail(batch)


@router.post("/{batch_id}/reschedule", response_model=BatchDetail, responses=batch_errors(400, 404, 409, 415))
def reschedule_batch(batch_id: BatchIdPath, change: Reschedule, state: State, caller: Caller) -> BatchDetail:
    """Move the start of a batch that has not started, to a time in the future."""
    batch = batch_service.visible(state.backend, caller, batch_id)
    if change.scheduled_start_time.timestamp() <= time.time():
        raise validation_error(
            "scheduled_start_time must be in the future",
            [{"field": "scheduled_start_time", "location": "body", "message": "in the past", "type": "past"}],
        )
    batch.reschedule(change.scheduled_start_time)
    auditing.record(state, caller, "batch.reschedule", batch_id, f"starts at {change.scheduled_start_time.isoformat()}")
    return batch_service.detail(batch)


@router.post("/{batch_id}/cancel", response_model=BatchCancelled, responses=batch_errors(404, 409))
def cancel_batch(batch_id: BatchIdPath, state: State, caller: Caller) -> BatchCancelled:
    """Cancel every job of the batch not yet ended (running ones are stopped), and its start."""
    batch = batch_service.visible(state.backend, caller, batch_id)
    was_scheduled = batch.status is BatchStatus.SCHEDULED
    cancelled = batch.cancel()
    auditing.record(state, caller, "batch.cancel", batch_id, f"{cancelled} jobs cancelled")
    return BatchCancelled(
        batch_id=batch.id, status="cancelled", scheduled_job_cancelled=was_scheduled, cancelled_jobs=cancelled
    )


@router.get("/{batch_id}/backend", response_model=BatchBackendView, responses=batch_errors(404))
def batch_backend(batch_id: BatchIdPath, state: State, caller: Caller) -> BatchBackendView:
    """Debugging: whether the batch's scheduled start really exists in the store."""
    try:
        batch: Batch | None = batch_service.visible(state.backend, caller, batch_id)
    except NoSuchBatchError:
        if not caller.is_admin:
            raise
        batch = None
    return batch_service.backend_view(batch, batch_id, state.backend.batch_inspect(batch_id))
