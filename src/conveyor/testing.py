"""Helpers for tests: build a job record in any state, and write it straight to a backend.

``make_job`` skips the lifecycle, so lease, TTL and recovery tests can start from the
state they need (a started job whose lease lapsed an hour ago, a finished job past its
result_ttl) without running workers or waiting.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from conveyor.backends.base import Backend
from conveyor.serializers import JSONSerializer
from conveyor.status import JobStatus
from conveyor.types import JobRecord


def make_record(
    *,
    func_name: str = "conveyor.testing.noop",
    args: list[Any] | tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    status: JobStatus | str = JobStatus.QUEUED,
    now: float = 1_000_000.0,
    **fields: Any,
) -> JobRecord:
    """A JobRecord with sensible defaults; any field can be given by name.

    A STARTED job gets a worker, a lease token and a lease of 30 s from ``now`` unless
    those are given.
    """
    status = JobStatus(status)
    payload = JSONSerializer.dumps([list(args), kwargs or {}])
    defaults: dict[str, Any] = {"id": str(uuid.uuid4()), "queue": "default", "created_at": now, "enqueued_at": now}
    if status is JobStatus.STARTED:
        defaults.update(
            worker_name="test-worker",
            lease_token=uuid.uuid4().hex[:16],
            lease_expires_at=now + 30,
            started_at=now,
            last_heartbeat=now,
        )
    if "metrics" in fields and isinstance(fields["metrics"], dict):
        fields["metrics"] = json.dumps(fields["metrics"]).encode()
    return JobRecord(func_name=func_name, payload=payload, status=status, **{**defaults, **fields})


def make_job(backend: Backend, **fields: Any) -> JobRecord:
    """Write one job in the given state (see make_record) and return it as stored."""
    record = make_record(**fields)
    (stored,) = backend.jobs_enqueue([record], fields.get("now", 1_000_000.0))
    return stored


def noop(*args: Any, **kwargs: Any) -> None:
    """A job function that does nothing (the default of make_record)."""
