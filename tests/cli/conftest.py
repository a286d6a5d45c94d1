"""Fixtures for the CLI tests: a fresh SQLite file, a backend on it, and a runner."""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner, Result

import conveyor
from conveyor.backends.base import Backend
from conveyor.cli import cli
from conveyor.testing import make_job
from conveyor.types import JobRecord

TESTS_DIR = Path(__file__).resolve().parent.parent
SETTINGS_ENV = (
    "CONVEYOR_URL", "CONVEYOR_IMPORTS", "CONVEYOR_CONCURRENCY", "CONVEYOR_LEASE_TTL", "CONVEYOR_CONFIG",
    "CONVEYOR_SUPERVISE", "CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS", "CONVEYOR_PER_USER_MAX_CONCURRENT_JOBS",
    "CONVEYOR_QUEUE_LIMITS", "CONVEYOR_JOB_TYPE_LIMITS", "CONVEYOR_QUEUE_RATES", "CONVEYOR_JOB_TYPE_RATES",
    "CONVEYOR_USER_RATE",
)  # fmt: skip

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'conveyor.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Backend]:
    backend = conveyor.connect(db_url)
    yield backend
    backend.close()


@pytest.fixture
def run(db_url: str) -> Run:
    """Invoke ``conveyor ARGS... -u <db_url>`` in-process (the URL after the sub-command)."""
    runner = CliRunner()

    def invoke(*args: str, url: str | None = db_url, env: Mapping[str, str] | None = None) -> Result:
        argv = [*args, "-u", url] if url is not None else list(args)
        return runner.invoke(cli, argv, env=env, catch_exceptions=False)

    return invoke


def put_job(backend: Backend, **fields: Any) -> JobRecord:
    """Store a job in any state, stamped with the real time (jobs_get/now-relative checks)."""
    fields.setdefault("func_name", "jobfuncs.add")
    fields.setdefault("args", [1, 2])
    fields.setdefault("now", time.time())
    return make_job(backend, **fields)


def assert_user_error(result: Result, exit_code: int, fragment: str) -> None:
    """The error contract: the status, and one line on stderr naming the problem, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines
    assert fragment in lines[0], lines
    assert "Traceback" not in result.output + result.stderr


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``python -m conveyor`` child: job functions importable, no stray settings."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def conveyor_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "conveyor", *args]


class LineReader:
    """Collects a child's output lines on a thread, so tests wait for one with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {text!r}; got {''.join(self.lines)}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before {text!r}; got {''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = 30.0) -> str:
        """Everything up to the end of the stream."""
        self._thread.join(timeout)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)
