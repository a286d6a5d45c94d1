"""Operations: queues (counts, pause and resume), workers, periodic jobs, health (for load
balancers, no key needed) and Prometheus metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from conveyor._version import __version__
from conveyor.clock import to_datetime
from conveyor.command import send_shutdown_command
from conveyor.exceptions import BackendError
from conveyor.options import validate_queue_name
from conveyor.server import auditing, cursors
from conveyor.server.deps import Caller, Monitor, State
from conveyor.server.errors import ApiError
from conveyor.server.responses import COMMON, errors
from conveyor.server.schemas import (
    AuditEntry,
    AuditList,
    CronList,
    Health,
    QueueCounts,
    QueueList,
    QueuePause,
    ShutdownRequested,
    WorkerErrorBody,
    WorkerList,
)
from conveyor.server.strict_query import StrictQueryRoute
from conveyor.server.views import cron_entry_view, worker_view
from conveyor.status import REST_NAMES

router = APIRouter(tags=["operations"], route_class=StrictQueryRoute)


@router.get("/api/v1/workers", response_model=WorkerList, responses=errors(*COMMON))
def list_workers(state: State, caller: Caller) -> WorkerList:
    """Registered workers; ``healthy`` is false for one silent for a minute. A user sees
    only its own jobs among their current ones."""
    now = time.time()
    workers = state.backend.workers_list()
    shown = None
    if not caller.is_admin:
        running = [job_id for worker in workers for job_id in worker.current_job_ids]
        shown = {r.id for r in state.backend.jobs_summaries(running) if r is not None and caller.may_see(r.user_id)}
    return WorkerList(data=[worker_view(worker, now, shown) for worker in workers])


@router.post(
    "/api/v1/workers/{name}/shutdown",
    response_model=ShutdownRequested,
    status_code=202,
    responses={**errors(*COMMON, 403), 404: {"model": WorkerErrorBody, "description": "No worker of that name"}},
)
def shutdown_worker(name: str, state: State, caller: Caller) -> ShutdownRequested:
    """Ask a worker to shut down as SIGTERM would make it: it takes no more jobs, finishes
    the running ones and exits, once it hears at its next heartbeat (within 10 s by
    default). Needs an admin key."""
    if not caller.is_admin:
        raise ApiError(403, "Forbidden", "Shutting a worker down needs an admin key")
    send_shutdown_command(state.backend, name)
    auditing.record(state, caller, "worker.shutdown", name)
    return ShutdownRequested(worker=name)


@router.get("/api/v1/cron", response_model=CronList, responses=errors(*COMMON))
def list_cron(state: State, caller: Caller) -> CronList:
    """Periodic jobs as their schedulers (conveyor cron) published them, by name, with
    their last and next run; ``stale`` for one no scheduler runs any more. Any key, as
    /workers: entries belong to no user."""
    now = time.time()
    return CronList(data=[cron_entry_view(entry, now) for entry in state.backend.cron_entries()])


@router.get("/api/v1/queues", response_model=QueueList, responses=errors(*COMMON))
def list_queues(state: State, caller: Caller) -> QueueList:
    """Every queue that holds jobs, with its jobs per status (the caller's own, for a
    user): read from the store's counters, never a scan; and, for an admin, every paused
    queue, jobs or none (it is there to resume)."""
    counts = state.backend.counts(None if caller.is_admin else caller.user_id)
    paused = state.backend.queues_paused()
    rows = []
    for queue in sorted(counts.keys() | (paused.keys() if caller.is_admin else set())):
        per_rest = dict.fromkeys(("pending", "scheduled", "running", "completed", "failed", "cancelled"), 0)
        for status, count in counts.get(queue, {}).items():
            per_rest[REST_NAMES[status]] += count
        if any(per_rest.values()) or queue in paused:
            since = paused.get(queue)
            rows.append(
                QueueCounts(
                    queue=queue, total=sum(per_rest.values()), paused=since is not None, paused_at=to_datetime(since),
                    **per_rest,
                )
            )  # fmt: skip
    return QueueList(data=rows)


_PAUSE_RESPONSES = errors(*COMMON, 400, 403)


@router.post("/api/v1/queues/{name}/pause", response_model=QueuePause, responses=_PAUSE_RESPONSES)
def pause_queue(name: str, state: State, caller: Caller) -> QueuePause:
    """Keep every worker from starting the queue's jobs until it is resumed: jobs still
    enqueue into it, running ones go on. Pausing a paused queue keeps its first time.
    Needs an admin key (queues are shared by every user)."""
    queue = _operated_queue(name, caller, "Pausing")
    state.backend.queues_pause([queue], time.time())
    auditing.record(state, caller, "queue.pause", queue)
    return QueuePause(queue=queue, paused=True, paused_at=to_datetime(state.backend.queues_paused().get(queue)))


@router.post("/api/v1/queues/{name}/resume", response_model=QueuePause, responses=_PAUSE_RESPONSES)
def resume_queue(name: str, state: State, caller: Caller) -> QueuePause:
    """Let workers start the queue's jobs again (its idle workers wake at once); a queue
    not paused is left as it is. Needs an admin key."""
    queue = _operated_queue(name, caller, "Resuming")
    if state.backend.queues_resume([queue]):
        auditing.record(state, caller, "queue.resume", queue)
    return QueuePause(queue=queue, paused=False, paused_at=None)


def _operated_queue(name: str, caller: Caller, action: str) -> str:
    if not caller.is_admin:
        raise ApiError(403, "Forbidden", f"{action} a queue needs an admin key")
    return validate_queue_name(name)


@router.get("/api/v1/audit", response_model=AuditList, responses=errors(*COMMON, 400, 403))
def audit_log(
    state: State,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page.")] = None,
) -> AuditList:
    """Operator actions, newest first: jobs cancelled, restarted, deleted; batches started,
    rescheduled, cancelled; queues paused and resumed; workers shut down (here or with the
    CLI), with who took them. Needs an admin key."""
    if not caller.is_admin:
        raise ApiError(403, "Forbidden", "The audit log needs an admin key")
    before = None if cursor is None else cursors.decode("audit", cursor, "")
    found = state.backend.audit_read(before, limit + 1)
    page = found[:limit]
    next_cursor = cursors.encode("audit", page[-1].id, "") if len(found) > limit else None
    entries = [
        AuditEntry(
            id=entry.id, at=datetime.fromtimestamp(entry.at, UTC), actor=entry.actor, role=entry.role, via=entry.via,
            action=entry.action, target=entry.target, detail=entry.detail,
        )
        for entry in page
    ]  # fmt: skip
    return AuditList(data=entries, next_cursor=next_cursor)


_HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"model": Health, "description": "Store unreachable"}}


@router.get("/health", response_model=Health, responses=_HEALTH_RESPONSES)
@router.get("/api/v1/health", response_model=Health, responses=_HEALTH_RESPONSES)
@router.head(
    "/health", response_model=Health, include_in_schema=False
)  # uptime checkers and load balancers often probe with HEAD
@router.head("/api/v1/health", response_model=Health, include_in_schema=False)
def health(state: State) -> Health | JSONResponse:
    """Liveness, and whether the job store answers (503 if not)."""
    try:
        state.backend.counts()
    except BackendError:
        down = Health(status="unavailable", backend=state.backend.kind, backend_reachable=False, version=__version__)
        return JSONResponse(down.model_dump(), status_code=503)
    return Health(status="ok", backend=state.backend.kind, backend_reachable=True, version=__version__)


_METRICS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text format", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}
}
# response_class=Response (no media type of its own): FastAPI documents the errors' bodies
# under the route's media type, which for PlainTextResponse would claim a 401 is text


@router.get("/metrics", response_class=Response, responses={**_METRICS_RESPONSE, **errors(401, 403)})
@router.get("/api/v1/metrics", response_class=Response, responses={**_METRICS_RESPONSE, **errors(401, 403)})
def metrics(state: State, caller: Monitor) -> PlainTextResponse:
    """Job counts, throughput, workers and HTTP request counters for Prometheus."""
    return PlainTextResponse(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
