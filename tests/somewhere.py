"""The job functions the RQ jobs page imports ``from somewhere`` (no network here)."""

from __future__ import annotations

import socket
import time

from conveyor import get_current_job


def count_words_at_url(url: str) -> int:
    return len(url.replace("/", " ").replace(".", " ").split())


def say_hello(name: str = "World") -> str:
    return f"Hello {name}!"


def add(x: int, y: int) -> int:
    job = get_current_job()
    assert job is not None
    print(f"Current job: {job.id}")
    job.meta["handled_by"] = socket.gethostname()
    job.save_meta()
    time.sleep(0.01)
    return x + y


def div_by_zero(x: int) -> float:
    return x / 0


def foo_job() -> str:
    return "foo"
