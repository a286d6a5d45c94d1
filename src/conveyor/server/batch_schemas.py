"""Request and response bodies of /api/v1/batches (SPEC section 3, Batches)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from conveyor.batch import HARD_MAX_BATCH_JOBS
from conveyor.server.schemas import Body, ErrorBody, Name, StartTime, StatusCounts, SubmitJob

BatchRestStatus = Literal["scheduled", "running", "completed", "cancelled"]


class CreateBatch(Body):
    """Jobs that start together, at once or at ``scheduled_start_time``. Each job is a
    submission without its own schedule, dependencies or id."""

    name: Name | None = None
    jobs: list[SubmitJob] = Field(min_length=1, max_length=HARD_MAX_BATCH_JOBS)
    scheduled_start_time: StartTime | None = Field(None, description="Hold the jobs until then (ISO 8601).")
    on_complete: Name | None = Field(None, description="A job type run once every job has ended (gets the id).")
    on_failure: Name | None = Field(None, description="A job type run once every job has ended, if one failed.")


class BatchErrorBody(ErrorBody):
    batch_id: str
    current_status: str | None = None


class BatchCreated(BaseModel):
    batch_id: str
    status: BatchRestStatus
    job_ids: list[str]


class BatchCounts(StatusCounts):
    """A batch's jobs per REST status."""


class BatchDetail(BaseModel):
    batch_id: str
    name: str | None
    status: BatchRestStatus
    scheduled_start_time: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    total: int
    counts: BatchCounts
    progress: float = Field(description="The share of its jobs that have ended, 0.0 to 1.0.")
    user_id: str | None


class BatchList(BaseModel):
    data: list[BatchDetail]
    next_cursor: str | None


class Reschedule(Body):
    scheduled_start_time: StartTime


class BatchCancelled(BaseModel):
    batch_id: str
    status: Literal["cancelled"]
    scheduled_job_cancelled: bool = Field(description="Whether a scheduled start was removed.")
    cancelled_jobs: int


class BackendStarterInfo(BaseModel):
    job_id: str | None = Field(description="The starter entry's name in the store, when there is one.")
    in_defer_queue: bool = Field(description="Whether the starter entry is in the store's schedule.")
    job_metadata_exists: bool = Field(description="Whether the batch record exists in the store.")
    scheduled_time: datetime | None = Field(description="When the store will release the batch's jobs.")
    held_jobs: int = Field(description="Jobs still waiting for the starter.")
    note: str


class BatchBackendView(BaseModel):
    batch_id: str
    database_status: BatchRestStatus | None
    scheduled_job_id: str | None
    scheduled_start_time: datetime | None
    backend_job_info: BackendStarterInfo
