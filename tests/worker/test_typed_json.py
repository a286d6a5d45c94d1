"""Under the default JSON serializer, datetime, date, time, UUID and Decimal values reach
the job function, its result and meta as themselves (Celery's JSON form), in every pool."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

import jobfuncs
from conveyor import Job, JobStatus, Queue, Worker
from conveyor.backends.base import Backend
from conveyor.server.views import decoded

VALUE = {
    "at": datetime(2030, 1, 1, 9, 30, tzinfo=UTC),
    "day": date(2030, 1, 2),
    "clock": time(9, 5),
    "id": UUID("01234567-89ab-7def-8123-456789abcdef"),
    "price": Decimal("19.90"),
    "tags": ["a", 1],
}


@pytest.mark.parametrize("pool", [{}, {"pool": "processes"}], ids=["threads", "processes"])
def test_typed_values_reach_the_job_and_come_back_from_it(backend: Backend, pool: dict[str, Any]) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.echo, VALUE, meta={"since": VALUE["at"]})
    stored = Job.fetch(job.id, connection=backend)
    assert stored.args == (VALUE,) and stored.meta == {"since": VALUE["at"]}
    Worker([queue], connection=backend, **pool).work(burst=True)
    job.refresh()
    assert job.get_status() is JobStatus.FINISHED, job.exc_info
    assert job.return_value() == VALUE  # echo returns what it was given: the types held in the job
    assert repr(job.return_value()["price"]) == "Decimal('19.90')"


def test_rest_shows_them_in_their_json_form(backend: Backend) -> None:
    job = Queue(connection=backend).enqueue(jobfuncs.echo, VALUE["id"])
    assert decoded(job.record, job.record.payload) == [
        [{"__type__": "uuid", "__value__": "01234567-89ab-7def-8123-456789abcdef"}],
        {},
    ]


@pytest.mark.parametrize(
    ("func", "pool"),
    [(jobfuncs.stamp_meta, {}), (jobfuncs.stamp_meta, {"pool": "processes"}), (jobfuncs.async_stamp_meta, {})],
    ids=["threads", "processes", "async"],
)
def test_meta_saved_from_inside_a_job_and_its_result_keep_them(
    backend: Backend, func: Any, pool: dict[str, Any]
) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(func, VALUE)
    Worker([queue], connection=backend, **pool).work(burst=True)
    job.refresh()
    assert job.get_status() is JobStatus.FINISHED, job.exc_info
    assert job.meta == {"seen": VALUE} and job.return_value() == VALUE
    assert job.to_dict()["meta"]["seen"]["price"] == {"__type__": "decimal", "__value__": "19.90"}
