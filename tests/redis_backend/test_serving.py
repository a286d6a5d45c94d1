"""When a Redis began serving: the run_id of its process, first seen."""

from __future__ import annotations

from pathlib import Path

import conveyor
from conveyor.backends.redis.backend import RedisBackend
from redis_server import RedisServer


def test_serving_since_stays_while_the_server_runs_and_moves_when_it_restarts(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, appendonly=True).start()  # the namespace's keys survive the restart
    try:
        backend = conveyor.connect(server.url)
        assert isinstance(backend, RedisBackend)
        assert backend.store_serving_since(1000.0) == 1000.0, "first seen now"
        assert backend.store_serving_since(2000.0) == 1000.0, "the same process since"
        server.stop()
        server.start()
        assert backend.store_serving_since(3000.0) == 3000.0, "a new process: a restart (or a failover)"
        assert backend.store_serving_since(4000.0) == 3000.0
        backend.close()
    finally:
        server.stop()


def test_a_redis_without_info_answers_none(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, options=("--rename-command", "INFO", "")).start()
    try:
        backend = conveyor.connect(server.url)
        assert isinstance(backend, RedisBackend)
        assert backend.store_serving_since(1000.0) is None, "workers then go by their own failures"
        backend.close()
    finally:
        server.stop()
