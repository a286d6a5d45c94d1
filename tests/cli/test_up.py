"""``conveyor up``: the API server, a worker process and the live demo."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from conveyor import send_shutdown_command
from conveyor.backends.base import Backend
from conveyor.demo import DEMO_QUEUE
from conveyor.status import JobStatus
from waiting import wait_until

from .conftest import LineReader, Run, assert_user_error, conveyor_cmd, subprocess_env


def test_burst_demo_runs_every_demo_job_to_finished(run: Run, db: Backend) -> None:
    result = run("up", "--burst-demo", "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert "Demo: 6 of 6 jobs finished" in result.stdout
    for name in ("crunch_numbers", "fetch_pages", "flaky_report", "finished", "100%"):
        assert name in result.stdout, name
    assert "stopped after 7 jobs" in result.stdout  # the worker's log: six jobs and one retry
    assert db.counts()[DEMO_QUEUE] == {JobStatus.FINISHED: 6}
    assert db.workers_list() == []


def test_the_worker_of_up_reads_the_config_file_given_to_up(run: Run, db: Backend, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[worker]\nname = "named-in-the-config"\n')
    result = run("--config", str(config), "up", "--burst-demo")
    assert result.exit_code == 0, result.output
    assert "worker named-in-the-config stopped after 7 jobs" in result.stdout


def test_a_bad_import_stops_up_before_anything_runs(run: Run, db: Backend) -> None:
    assert_user_error(run("up", "--burst-demo", "--import", "no_such_module_here"), 2, "cannot import")
    assert db.counts() == {}


@contextlib.contextmanager
def running_up(tmp_path: Path, db_url: str, *flags: str) -> Iterator[tuple[subprocess.Popen[str], LineReader]]:
    """``conveyor up`` on ``db_url`` and any free port, its output read line by line;
    killed if the test leaves it running."""
    process = subprocess.Popen(
        conveyor_cmd("up", "-u", db_url, "--port", "0", *flags), cwd=tmp_path, env=subprocess_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield process, LineReader(process.stdout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_stops_the_worker_and_up(tmp_path: Path, db_url: str, db: Backend) -> None:
    with running_up(tmp_path, db_url) as (process, output):
        served = re.search(r"(http://127\.0\.0\.1:\d+)/", output.wait_for("Dashboard and API:"))
        assert served is not None
        api = f"{served.group(1)}/api/v1"
        assert httpx.get(f"{api}/jobs/stats").json()["queue_type"] == "sqlite"
        line = output.wait_for("Press Ctrl-C")
        submitted = httpx.post(f"{api}/jobs", json={"job_type": "demo.count_words", "args": ["one two three"]})
        job_id = submitted.json()["job_id"]
        assert wait_until(lambda: httpx.get(f"{api}/jobs/{job_id}").json()["result"]) == 3
        match = re.search(r"pid (\d+)", line)
        assert match is not None, line
        worker_pid = int(match.group(1))
        assert [w.pid for w in db.workers_list()] == [worker_pid]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        text = output.rest()
    assert "Demo: 6 of 6 jobs finished" in text
    assert "Stopping the worker" in text
    assert "stopped after 8 jobs" in text  # the demo's six, one retry, and the one submitted over HTTP
    assert "Traceback" not in text
    assert db.workers_list() == []
    try:
        os.kill(worker_pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"worker {worker_pid} outlived conveyor up")


def test_a_worker_told_to_shut_down_stops_up_too(tmp_path: Path, db_url: str, db: Backend) -> None:
    with running_up(tmp_path, db_url, "--lease-ttl", "1.5") as (process, output):  # a heartbeat every 0.5 s
        output.wait_for("Press Ctrl-C")
        (worker,) = db.workers_list()
        send_shutdown_command(db, worker.name)
        assert process.wait(timeout=60) == 0
        text = output.rest()
    assert "was asked to shut down" in text
    assert "The worker stopped; stopping the API server." in text
    assert db.workers_list() == []


def test_a_worker_killed_under_up_stops_up_saying_by_which_signal(tmp_path: Path, db_url: str, db: Backend) -> None:
    with running_up(tmp_path, db_url) as (process, output):
        output.wait_for("Press Ctrl-C")
        (worker,) = db.workers_list()
        os.kill(worker.pid, signal.SIGKILL)
        assert process.wait(timeout=60) != 0
        text = output.rest()
    assert "the worker was killed by SIGKILL" in text


def test_up_with_a_cron_config_enqueues_its_periodic_jobs_for_its_worker(
    tmp_path: Path, db_url: str, db: Backend
) -> None:
    register = "cron.register(jobfuncs.add, args=(2, 3), interval=1, name='adder')"
    (tmp_path / "cron_config.py").write_text(f"from conveyor import cron\nimport jobfuncs\n\n{register}\n")
    with running_up(tmp_path, db_url, "--cron", "cron_config.py") as (process, output):
        assert "'adder': jobfuncs.add on queue 'default', every 1s" in output.wait_for("Periodic jobs from")
        output.wait_for("Press Ctrl-C")
        ran = wait_until(lambda: len(db.job_ids("default", [JobStatus.FINISHED])) >= 2 or None)  # two ticks
        assert ran
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert "Traceback" not in output.rest()


def test_a_bad_cron_config_stops_up_before_anything_runs(run: Run, db: Backend, tmp_path: Path) -> None:
    assert_user_error(run("up", "--burst-demo", "--cron", str(tmp_path / "nowhere.py")), 2, "does not exist")
    assert db.counts() == {}
