"""Connections the backend opens per thread (past redis-py's pool) end with their thread."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import redis

import conveyor
from redis_server import RedisServer
from waiting import wait_until


def test_a_thread_that_used_the_store_leaves_no_connection_behind_when_it_ends(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    backend = conveyor.connect(server.url)
    admin = redis.Redis(port=server.port)
    try:
        backend.jobs_promote_due(0.0)  # this thread's connection, kept
        before = len(admin.client_list())
        for _ in range(20):  # as a worker does for each async job's callbacks
            thread = threading.Thread(target=backend.jobs_promote_due, args=(0.0,))
            thread.start()
            thread.join()
        gc.collect()
        wait_until(lambda: len(admin.client_list()) == before, timeout=5, message="the connections closed")
        backend.jobs_promote_due(0.0)
    finally:
        admin.close()
        backend.close()
        server.stop()
