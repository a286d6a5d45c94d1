"""What the Redis backend asks of the server: functions (Redis 7), said clearly when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

import conveyor
from conveyor import Queue
from conveyor.exceptions import BackendError
from conveyor.status import JobStatus
from jobfuncs import add
from redis_server import RedisServer


def test_a_server_without_functions_gets_a_clear_error_and_keeps_nothing_half_done(tmp_path: Path) -> None:
    # a real server whose FCALL is switched off answers as one older than Redis 7 does
    server = RedisServer(tmp_path, options=("--rename-command", "FCALL", "")).start()
    backend = conveyor.connect(server.url)
    try:
        with pytest.raises(BackendError, match=r"Redis 7\.0 or newer"):
            Queue(connection=backend).enqueue(add, 1, 2)
        assert backend.jobs_count(None, list(JobStatus)) == 0
    finally:
        backend.close()
        server.stop()
