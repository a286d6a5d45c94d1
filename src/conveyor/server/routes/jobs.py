"""/api/v1/jobs: submit, list, inspect, follow, cancel, restart and delete jobs.

Handlers call the library (through conveyor.server.service) and shape the answer;
errors are mapped in one place (conveyor.server.errors). Fixed paths (/stats,
/queue/stats) are declared before /{job_id} so they are matched first.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from conveyor.server import auditing, batch_service, listing, service, stats, watch
from conveyor.server.deps import Caller, State
from conveyor.server.errors import validation_error
from conveyor.server.responses import COMMON, batch_errors, errors
from conveyor.server.schemas import (
    ActionResult,
    BackendView,
    JobList,
    JobPage,
    JobStatusView,
    JobSummaryList,
    ListView,
    PollResult,
    QueueStats,
    RestStatus,
    Stats,
    SubmitJob,
    Submitted,
)
from conveyor.server.strict_query import StrictQueryRoute
from conveyor.server.views import inspection, job_page, job_status, rest
from conveyor.status import JobStatus

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=errors(*COMMON), route_class=StrictQueryRoute)

JobIdPath = Annotated[str, Path(description="The job's id.")]
MAX_POLL_SECONDS = 300.0


@router.post(
    "",
    status_code=201,
    response_model=Submitted,
    responses={**errors(400, 409, 413, 415), 200: {"model": Submitted, "description": "An idempotent replay"}},
)
def submit_job(
    spec: SubmitJob,
    state: State,
    caller: Caller,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Submitted:
    """Submit a job of a registered type; it belongs to the API key's user.

    With an idempotency key (the ``Idempotency-Key`` header or ``idempotency_key``),
    a retried submission answers 200 with the job the first one created, while that
    job has not ended.
    """
    if idempotency_key is not None and spec.idempotency_key not in (None, idempotency_key):
        raise validation_error(
            "The Idempotency-Key header and idempotency_key differ",
            [{"field": "idempotency_key", "location": "body", "message": "differs from the header", "type": "value"}],
        )
    if idempotency_key is not None:
        spec = spec.model_copy(update={"idempotency_key": idempotency_key})
    job, created = service.submit(state.backend, caller, spec)
    response.headers["Location"] = f"{router.prefix}/{quote(job.id, safe='')}"  # headers are Latin-1
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return Submitted(job_id=job.id, status=rest(job.status))


@router.get("", response_model=JobList | JobSummaryList, responses={**errors(400), **batch_errors(404)})
def list_jobs(
    state: State,
    caller: Caller,
    status: Annotated[list[RestStatus] | None, Query(description="Any of these statuses (repeat it).")] = None,
    job_type: Annotated[str | None, Query(max_length=200)] = None,
    queue: Annotated[str | None, Query(max_length=200)] = None,
    user: Annotated[str | None, Query(min_length=1, max_length=200, description="Admins: jobs of this user.")] = None,
    batch_id: Annotated[
        str | None, Query(max_length=200, description="Jobs of this batch, the last given at its creation first.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    view: Annotated[
        ListView,
        Query(description="full: every job whole; summary: without input, result, meta, metrics and depends_on."),
    ] = "full",
) -> JobList | JobSummaryList:
    """Jobs newest first, one page at a time (follow ``next_cursor``); a batch that is not
    the caller's is a 404. ``view=summary`` lists each job without its large values, which
    the store then does not read: for pages polled often, or of jobs with big inputs."""
    if batch_id is not None:
        batch_service.visible(state.backend, caller, batch_id)
    filters = listing.Filters(frozenset(status or ()), job_type=job_type, queue=queue, user=user, batch_id=batch_id)
    return listing.list_jobs(state.backend, caller, filters, cursor, limit, view)


@router.get("/stats", response_model=Stats)
def job_stats(state: State, caller: Caller) -> Stats:
    """Counts (a user's: its own jobs), workers, throughput over the last minute, hour and
    day, and the mean run time (both the whole store's)."""
    return stats.stats(state.backend, time.time(), None if caller.is_admin else caller.user_id)


@router.get("/queue/stats", response_model=QueueStats)
def queue_stats(state: State, caller: Caller) -> QueueStats:
    """Counts per status (a user's: its own jobs), workers and their health, and the host's load."""
    user_id = None if caller.is_admin else caller.user_id
    return stats.queue_stats(state.backend, state.settings, state.host, time.time(), user_id)


@router.get("/status/{job_id}", response_model=JobStatusView, responses=errors(404))
def job_status_view(job_id: JobIdPath, state: State, caller: Caller) -> JobStatusView:
    """The job's status, progress and timing."""
    return job_status(service.visible_record(state.backend, caller, job_id), time.time())


@router.get("/status/{job_id}/poll", response_model=PollResult, responses=errors(404))
async def poll_job_status(
    job_id: JobIdPath,
    state: State,
    caller: Caller,
    request: Request,
    current_status: RestStatus | None = None,
    timeout: Annotated[float, Query(ge=0, le=MAX_POLL_SECONDS, allow_inf_nan=False)] = 30.0,
) -> PollResult:
    """Long poll: answers as soon as the status differs from ``current_status`` (at once
    if it already does), else after ``timeout`` seconds with the unchanged status."""
    gone = partial(watch.client_gone, request.receive)  # a client that gave up ends the wait
    return await watch.poll(state.backend, state.hub, caller, job_id, current_status, timeout, gone)


@router.get(
    "/status/{job_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: job_update on each change, job_complete at the end.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(404),
    },
)
async def stream_job_status(
    job_id: JobIdPath,
    state: State,
    caller: Caller,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="lastEventId",
            max_length=200,
            description="The Last-Event-ID as EventSource polyfills send it when they reconnect (the header wins).",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events for one job; ends after its ``job_complete``."""
    subscription, first = await watch.open_stream(state.backend, state.hub, caller, job_id)
    seen = last_event_id if last_event_id is not None else last_event_id_query
    body = watch.stream(
        state.backend, state.hub, caller, subscription, first, seen, state.settings.sse_heartbeat_seconds
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(state.hub.close, subscription),  # also when the body never started
    )


@router.post("/cancel/{job_id}", response_model=ActionResult, responses=errors(404, 409))
def cancel_job(job_id: JobIdPath, state: State, caller: Caller) -> ActionResult:
    """Cancel a pending, scheduled or running job (a running one is stopped)."""
    service.cancel(state.backend, caller, job_id)
    auditing.record(state, caller, "job.cancel", job_id)
    return ActionResult(job_id=job_id, status="cancelled", message="Job cancelled successfully")


@router.post("/restart/{job_id}", response_model=ActionResult, responses=errors(404, 409))
def restart_job(job_id: JobIdPath, state: State, caller: Caller) -> ActionResult:
    """Put a failed or cancelled job back in its queue, retries reset. The status is the
    one the restart gave it (a worker may have claimed it since): pending, or scheduled
    for a job of a batch that has not started, held again until the batch starts."""
    restarted = service.restart(state.backend, caller, job_id)
    auditing.record(state, caller, "job.restart", job_id)
    if restarted is JobStatus.SCHEDULED:
        return ActionResult(job_id=job_id, status="scheduled", message="Job restarted; it starts with its batch")
    return ActionResult(job_id=job_id, status="pending", message="Job restarted and re-queued")


@router.delete("/{job_id}", status_code=204, response_class=Response, responses=errors(404, 409))
def delete_job(job_id: JobIdPath, state: State, caller: Caller) -> Response:
    """Delete an ended job (completed, failed or cancelled) and its result; a pending,
    scheduled or running job is a 409 until it is cancelled."""
    service.delete(state.backend, caller, job_id)
    auditing.record(state, caller, "job.delete", job_id)
    return Response(status_code=204)


@router.get("/{job_id}/backend", response_model=BackendView, responses=errors(404))
def job_backend(job_id: JobIdPath, state: State, caller: Caller) -> BackendView:
    """Debugging: what the backend itself holds for the job (queue, schedule, lease)."""
    return inspection(service.inspect(state.backend, caller, job_id))


@router.get("/{job_id}", response_model=JobPage, responses=errors(404))
def get_job(job_id: JobIdPath, state: State, caller: Caller) -> JobPage:
    """Everything about one job: input, result or error (and its whole traceback), timing, progress."""
    return job_page(service.visible_record(state.backend, caller, job_id))
