"""The read-only commands (info, doctor, batch show, batch list, audit) on a SQLite file the
user may only read: run as an unprivileged user (root ignores file permissions), they
answer, and the file is left as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Batch, Queue
from redis_server import RedisServer, redis_contents

from .conftest import Run, conveyor_cmd, subprocess_env

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
as_another_user = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to run a command as another user"
)


@pytest.fixture(scope="module")
def nobody_can_run_conveyor() -> None:
    """Skip where user nobody cannot import this checkout: one cloned under a private
    directory (/root, a mktemp -d) fails there for that reason alone."""
    assert SETPRIV is not None
    command = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c"]
    probe = subprocess.run([*command, "import conveyor, jobfuncs"], check=False, env=subprocess_env(),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    if probe.returncode != 0:
        last = probe.stderr.strip().splitlines()[-1:]
        pytest.skip(f"user nobody cannot import this checkout (a parent directory is private?): {last}")


@pytest.fixture(params=["read-only file", "read-only directory"])
def store(request: pytest.FixtureRequest, nobody_can_run_conveyor: None) -> Iterator[tuple[Path, str]]:
    """A store with a job and a batch, which only root may write; and the batch's id."""
    directory = Path(tempfile.mkdtemp(prefix="conveyor-ro-"))
    path = directory / "jobs.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    Queue(connection=backend).enqueue(jobfuncs.add, 1, 2)
    batch = Batch.create([Queue.prepare_data(jobfuncs.noop)], queue=Queue(connection=backend))
    backend.close()
    path.chmod(0o444)
    directory.chmod(0o555 if request.param == "read-only directory" else 0o777)
    yield path, batch.id
    directory.chmod(0o755)
    shutil.rmtree(directory)


def as_nobody(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SETPRIV is not None
    command = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *conveyor_cmd(*args)]
    return subprocess.run(
        [*command, "-u", f"sqlite:///{path}"],
        check=False,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@as_another_user
def test_read_only_commands_answer_without_writing(store: tuple[Path, str]) -> None:
    path, batch_id = store
    before = path.read_bytes(), path.stat().st_mtime_ns
    info = as_nobody(path, "info", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["queues"][0]["counts"]["queued"] == 2
    doctor = as_nobody(path, "doctor", "--json")
    assert (doctor.returncode, json.loads(doctor.stdout)["findings"]) == (0, []), doctor.stderr
    shown = as_nobody(path, "batch", "show", batch_id, "--json")
    assert (shown.returncode, json.loads(shown.stdout)["batch_id"]) == (0, batch_id), shown.stderr
    listed = as_nobody(path, "batch", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [b["batch_id"] for b in json.loads(listed.stdout)["batches"]] == [batch_id]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@as_another_user
def test_a_write_on_a_file_the_user_cannot_write_is_a_clear_error(store: tuple[Path, str]) -> None:
    path, _ = store
    for args in (("enqueue", "jobfuncs.noop"), ("doctor", "--repair")):
        result = as_nobody(path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and "not writable" in result.stderr
        assert "Traceback" not in result.stderr


def test_root_runs_the_read_only_commands_without_writing_either(run: Run, db_url: str) -> None:
    path = Path(db_url.removeprefix("sqlite:///"))
    backend = conveyor.connect(db_url)
    batch = Batch.create([Queue.prepare_data(jobfuncs.noop)], queue=Queue(connection=backend))
    backend.close()
    before = path.read_bytes(), path.stat().st_mtime_ns
    for args in (("info",), ("doctor",), ("batch", "show", batch.id), ("batch", "list"), ("audit",)):
        assert run(*args).exit_code == 0, args
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_on_redis_the_read_only_commands_write_nothing(run: Run, redis_server: RedisServer) -> None:
    url = f"{redis_server.url}?prefix=test-{uuid.uuid4().hex[:12]}"
    backend = conveyor.connect(url)
    Queue(connection=backend).enqueue(jobfuncs.add, 1, 2)
    batch = Batch.create([Queue.prepare_data(jobfuncs.noop)], queue=Queue(connection=backend))
    backend.close()
    before = redis_contents(url)
    for args in (("info",), ("doctor",), ("batch", "show", batch.id), ("batch", "list"), ("audit",)):
        assert run(*args, url=url).exit_code == 0, args
    assert redis_contents(url) == before
