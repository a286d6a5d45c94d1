"""``conveyor cron CONFIG``: a real scheduler process enqueueing jobs a worker runs, stopped by SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from conveyor import Job
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from redis_server import RedisServer
from waiting import wait_until

from .conftest import LineReader, Run, assert_user_error, conveyor_cmd, subprocess_env

CONFIG = """\
from conveyor import cron
import jobfuncs

cron.register(jobfuncs.add, args=(2, 3), interval=1, name="adder")
"""


def finished(db: Backend) -> list[str]:
    return db.job_ids("default", [JobStatus.FINISHED])


def test_a_scheduler_process_enqueues_jobs_a_worker_runs_and_stops_on_sigterm(
    tmp_path: Path, db_url: str, db: Backend
) -> None:
    (tmp_path / "cron_config.py").write_text(CONFIG)
    env = subprocess_env()
    scheduler = subprocess.Popen(conveyor_cmd("cron", "cron_config.py", "-u", db_url), env=env, cwd=tmp_path,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
    worker = subprocess.Popen(conveyor_cmd("worker", "-u", db_url, "--poll-interval", "0.1"), env=env, cwd=tmp_path,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        output = LineReader(scheduler.stderr)  # type: ignore[arg-type]
        assert "'adder': jobfuncs.add on queue 'default', every 1s" in output.wait_for("every 1s")
        output.wait_for("cron job adder: enqueued job")
        (entry,) = wait_until(db.cron_entries, timeout=30, message="the entry published")
        assert (entry.name, entry.schedule, entry.job_type, entry.pid) == ("adder", "1", "jobfuncs.add", scheduler.pid)
        done = wait_until(lambda: len(finished(db)) >= 3 and finished(db), timeout=30, message="three runs")
        assert {Job.fetch(job_id, connection=db).result for job_id in done} == {5}
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=10) == 0
        output.wait_for("cron scheduler stopped")
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=10)


def test_two_scheduler_processes_enqueue_each_tick_once(tmp_path: Path, db_url: str, db: Backend) -> None:
    (tmp_path / "cron_config.py").write_text(CONFIG)
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(2)]
    schedulers = [subprocess.Popen(conveyor_cmd("cron", "cron_config.py", "-u", db_url), env=subprocess_env(),
                                   cwd=tmp_path, stderr=log.open("w")) for log in logs]  # fmt: skip
    try:
        wait_until(lambda: len(db.job_ids("default", [JobStatus.QUEUED])) >= 4, timeout=30, message="four ticks")
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=10) for process in schedulers] == [0, 0]
    ticks = [re.search(r"for the tick at (\S+)", line).group(1)  # type: ignore[union-attr]
             for log in logs for line in log.read_text().splitlines() if "enqueued job" in line]  # fmt: skip
    assert len(ticks) == len(db.job_ids("default", [JobStatus.QUEUED])) >= 4
    assert len(ticks) == len(set(ticks)), f"a tick was enqueued twice: {sorted(ticks)}"


def test_a_scheduler_started_before_its_redis_waits_for_it(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # its port chosen, nothing listening yet
    (tmp_path / "cron_config.py").write_text(CONFIG)
    scheduler = subprocess.Popen(conveyor_cmd("cron", "cron_config.py", "-u", redis.url), env=subprocess_env(),
                                 cwd=tmp_path, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        output = LineReader(scheduler.stderr)  # type: ignore[arg-type]
        output.wait_for("trying again in 0.5s")
        output.wait_for("trying again in 1s")  # backing off
        redis.start()
        output.wait_for("cron job adder: enqueued job")
        scheduler.send_signal(signal.SIGINT)
        assert scheduler.wait(timeout=10) == 0
    finally:
        scheduler.kill()
        scheduler.wait(timeout=10)
        redis.stop()


def test_a_bad_config_is_one_line_with_status_2(run: Run, tmp_path: Path) -> None:
    (tmp_path / "bad_cron.py").write_text("from conveyor import cron\ncron.register('jobfuncs.add', cron='often')\n")
    assert_user_error(run("cron", str(tmp_path / "bad_cron.py")), 2, "cron 'often' must have 5 fields")
    assert_user_error(run("cron", str(tmp_path / "missing.py")), 2, "does not exist")
