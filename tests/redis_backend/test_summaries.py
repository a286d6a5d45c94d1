"""A Redis summary reads only the summary's fields: seen in what the server ran (MONITOR)."""

from __future__ import annotations

import re
import uuid

import pytest
import redis

from conveyor.backends.base import SUMMARY_EXC_INFO_LIMIT
from conveyor.backends.redis.backend import RedisBackend
from conveyor.exceptions import BackendError
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import JobSummaryRecord
from redis_server import RedisServer

BIG = "x" * 100_000


def commands_run(server: RedisServer, backend: RedisBackend, action: object) -> list[str]:
    """The commands Redis ran on the backend's keys while ``action()`` ran (those its
    functions ran included), up to a marker sent after it."""
    client = redis.Redis.from_url(server.url, socket_timeout=10)
    marker = f"marker-{uuid.uuid4().hex}"
    seen: list[str] = []
    with client.monitor() as monitor:
        action()  # type: ignore[operator]
        client.get(marker)
        while marker not in (command := monitor.next_command()["command"]):
            if backend.keys.base in command:
                seen.append(command)
    client.close()
    return seen


def test_summaries_read_no_large_field_and_hand_over_only_a_tracebacks_end(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    make_job(backend, id="queued", args=[BIG], meta=BIG.encode())
    make_job(backend, id="done", status=JobStatus.FINISHED, result=BIG.encode(), metrics=b"{}")
    make_job(backend, id="short", status=JobStatus.FAILED, exc_info="ValueError: short")
    long = "T" * SUMMARY_EXC_INFO_LIMIT + "\nValueError: long"
    make_job(backend, id="long", status=JobStatus.FAILED, exc_info=long)
    ids = ["queued", "done", "short", "long"]

    summaries: list[JobSummaryRecord | None] = []
    commands = commands_run(redis_server, backend, lambda: summaries.extend(backend.jobs_summaries(ids)))

    reads = [command.split()[0].upper() for command in commands if not command.upper().startswith("FCALL")]
    assert set(reads) == {"HMGET", "HSTRLEN", "HGET"}
    assert reads.count("HMGET") == len(ids) and reads.count("HGET") == 2  # the tracebacks, inside Redis
    exc_infos = [s.exc_info if s else None for s in summaries]
    assert exc_infos == [None, None, "ValueError: short", long[-SUMMARY_EXC_INFO_LIMIT:]]  # the long one's end
    for field in ("payload", "result", "meta", "metrics"):
        assert not any(field in command.split() for command in commands), field
    assert len([command for command in commands if command.upper().startswith("FCALL")]) == 1  # one round trip


@pytest.mark.parametrize(("field", "problem"), [("priority", "priority holds b'abc'"), ("id", "id")])
def test_a_summary_of_a_record_conveyor_cannot_read_is_an_error_as_its_record_is(
    backend: RedisBackend, field: str, problem: str
) -> None:
    job = make_job(backend)
    if field == "id":
        backend._redis.hdel(backend.keys.job(job.id), "id")
    else:
        backend._redis.hset(backend.keys.job(job.id), field, "abc")
    for read in (backend.jobs_get, backend.jobs_summaries):
        with pytest.raises(BackendError, match=f"cannot be read: .*{re.escape(problem)}"):
            read([job.id])
