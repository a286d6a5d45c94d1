"""``conveyor worker``: in-process for the options, and as a real process fed by ``conveyor enqueue``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor.cli.commands_worker as commands_worker
import jobfuncs
from conveyor import Job, Queue
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import Limits
from redis_sentinel import NODE_PASSWORD, SENTINEL_PASSWORD, SentinelDeployment
from redis_server import RedisServer
from waiting import wait_until

from .conftest import LineReader, Run, assert_user_error, conveyor_cmd, subprocess_env


def test_a_worker_exits_past_threads_its_jobs_left_running(db_url: str, db: Backend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    job = Queue(connection=db).enqueue("jobfuncs.leave_a_thread_running", str(release))
    try:
        done = subprocess.run(
            conveyor_cmd("worker", "--burst", "-u", db_url),
            env=subprocess_env(), capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        release.touch()  # ends the thread, should the worker still wait for it
    assert done.returncode == 0, done.stderr
    assert job.get_status(refresh=True) is JobStatus.FINISHED
    assert "exiting without waiting for 1 threads that jobs left running (left-by-the-job)" in done.stderr
    assert (tmp_path / "release.atexit").read_text() == "ran", "exit handlers run as on a normal exit"


def test_burst_runs_the_queued_jobs_and_logs_to_stderr(run: Run, db: Backend) -> None:
    queue = Queue(connection=db)
    jobs = [queue.enqueue("jobfuncs.add", i, 1) for i in range(3)] + [queue.enqueue("jobfuncs.async_add", 2, 2)]
    result = run("worker", "--burst", "--name", "cli-worker")
    assert result.exit_code == 0, result.stderr
    assert [job.return_value(refresh=True) for job in jobs] == [1, 2, 3, 4]
    assert [job.worker_name for job in jobs] == ["cli-worker"] * 4
    assert "INFO" in result.stderr
    assert "cli-worker" in result.stderr
    assert "stopped after 4 jobs" in result.stderr
    assert result.stdout == ""


def test_queues_are_served_as_named_and_max_jobs_stops_early(run: Run, db: Backend) -> None:
    low = Queue("low", connection=db).enqueue("jobfuncs.noop")
    high = [Queue("high", connection=db).enqueue("jobfuncs.noop") for _ in range(2)]
    result = run("worker", "high", "low", "--burst", "--max-jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert [job.get_status() for job in high] == [JobStatus.FINISHED] * 2
    assert low.get_status() is JobStatus.QUEUED


def test_max_idle_time_ends_a_worker_that_is_not_a_burst_once_it_has_nothing_to_do(run: Run, db: Backend) -> None:
    job = Queue(connection=db).enqueue("jobfuncs.noop")
    result = run("worker", "--max-idle-time", "0.3", "--poll-interval", "0.05")
    assert result.exit_code == 0, result.stderr
    assert job.get_status() is JobStatus.FINISHED and "no job for 0.3s (max_idle_time)" in result.stderr


def test_exception_handlers_come_from_flags(run: Run, db: Backend, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    job = Queue(connection=db).enqueue("jobfuncs.fail", "boom", meta={"ledger": str(ledger)})
    result = run("worker", "--burst", "--exception-handler", "jobfuncs.handler_a", "--exception-handler",
                 "jobfuncs.handler_b")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [line.rsplit(" ", 1)[0] for line in ledger.read_text().splitlines()] == [
        f"handler-a {job.id} ValueError boom True", f"handler-b {job.id}",
    ]  # fmt: skip
    assert_user_error(run("worker", "--burst", "--exception-handler", "jobfuncs.nothing_here"), 2, "exception_handlers")


def test_rqs_worker_flags_are_taken(run: Run, db: Backend, tmp_path: Path) -> None:
    (tmp_path / "elsewhere_jobs.py").write_text("def triple(x):\n    return 3 * x\n")
    job = Queue(connection=db).enqueue("elsewhere_jobs.triple", 5)
    result = run("worker", "--burst", "--with-scheduler", "-s", "-P", str(tmp_path), "-q")
    assert result.exit_code == 0, result.stderr
    assert job.result == 15, "found on the path -P gave"
    assert "INFO" not in result.stderr, "-q logs warnings and errors only"
    verbose = run("worker", "--burst", "-v", "--logging_level", "ERROR")
    assert verbose.exit_code == 0 and "INFO" in verbose.stderr, "-v (debug) wins over the level"
    assert_user_error(run("worker", "--burst", "-v", "-q"), 2, "--verbose and --quiet")


def test_the_default_queue_is_default(run: Run, db: Backend) -> None:
    job = Queue(connection=db).enqueue("jobfuncs.noop")
    Queue("other", connection=db).enqueue("jobfuncs.noop")
    assert run("worker", "--burst").exit_code == 0
    assert job.get_status() is JobStatus.FINISHED
    assert db.counts()["other"] == {JobStatus.QUEUED: 1}


class FakeWorker:
    """Records how the command built its Worker, instead of running one."""

    made: list[dict[str, Any]] = []
    recycled = False
    failure = None

    def __init__(self, queues: list[str], **kwargs: Any) -> None:
        self.name = kwargs.get("name") or "fake"
        FakeWorker.made.append({"queues": queues, **kwargs})

    def work(self, burst: bool = False, max_jobs: int | None = None, max_idle_time: float | None = None) -> bool:
        FakeWorker.made[-1].update(burst=burst, max_jobs=max_jobs, max_idle_time=max_idle_time)
        return False


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> type[FakeWorker]:
    FakeWorker.made = []
    monkeypatch.setattr(commands_worker, "Worker", FakeWorker)
    return FakeWorker


def test_settings_come_from_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    env = {"CONVEYOR_CONCURRENCY": "3", "CONVEYOR_LEASE_TTL": "12.5", "CONVEYOR_IMPORTS": "jobfuncs, cli.jobtypes"}
    assert run("worker", "a", "b", env=env).exit_code == 0
    (made,) = fake_worker.made
    assert made["queues"] == ["a", "b"]
    assert (made["concurrency"], made["lease_ttl"], made["burst"], made["max_jobs"]) == (3, 12.5, False, None)
    assert "cli.jobtypes" in sys.modules


def test_flags_win_over_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    env = {"CONVEYOR_CONCURRENCY": "3", "CONVEYOR_LEASE_TTL": "12"}
    assert run("worker", "--concurrency", "8", "--lease-ttl", "60", "--burst", env=env).exit_code == 0
    (made,) = fake_worker.made
    assert (made["queues"], made["concurrency"], made["lease_ttl"], made["burst"]) == (["default"], 8, 60.0, True)


def test_limits_come_from_flags_and_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    env = {
        "CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS": "20",
        "CONVEYOR_PER_USER_MAX_CONCURRENT_JOBS": "2",
        "CONVEYOR_QUEUE_LIMITS": "slow=1,bulk=3",
    }
    flags = ["--per-user-max-concurrent-jobs", "4", "--job-type-limit", "jobs.render=2"]
    assert run("worker", *flags, env=env).exit_code == 0
    (made,) = fake_worker.made
    assert made["limits"] == Limits(20, 4, {"slow": 1, "bulk": 3}, {"jobs.render": 2})


def test_rates_come_from_flags_and_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    env = {"CONVEYOR_QUEUE_RATES": "emails=100/m,sms=5/30s", "CONVEYOR_JOB_TYPE_RATES": "jobs.ignored=1/s"}
    flags = ["--job-type-rate", "jobs.call_api=10/s", "--job-type-rate", "jobs.render=2/1.5h"]
    assert run("worker", *flags, env=env).exit_code == 0
    (made,) = fake_worker.made
    assert made["limits"] == Limits(
        per_queue_rate={"emails": (100, 60), "sms": (5, 30)},
        per_job_type_rate={"jobs.call_api": "10/s", "jobs.render": (2, 5400)},
    )


def test_the_user_rate_comes_from_its_flag_or_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    assert run("worker", env={"CONVEYOR_USER_RATE": "10/s"}).exit_code == 0
    assert run("worker", "--user-rate", "5/30s", env={"CONVEYOR_USER_RATE": "10/s"}).exit_code == 0
    from_env, from_flag = fake_worker.made
    assert from_env["limits"] == Limits(per_user_rate=(10, 1))
    assert from_flag["limits"] == Limits(per_user_rate="5/30s")


def test_up_gives_its_worker_the_limits_and_rates_as_flags(run: Run, fake_worker: type[FakeWorker]) -> None:
    from conveyor.cli.options import limit_flags

    limits = Limits(
        3, 2, {"slow": 1}, {"jobs.render": 2}, {"emails": "100/m"}, {"jobs.call_api": "10/s"}, per_user_rate="5/30s"
    )
    assert run("worker", *limit_flags(limits)).exit_code == 0
    assert fake_worker.made[0]["limits"] == limits


def test_settings_come_from_a_config_file_below_env_and_flags(
    run: Run, fake_worker: type[FakeWorker], tmp_path: Path
) -> None:
    config = tmp_path / "conveyor.toml"
    config.write_text(
        'imports = ["cli.jobtypes"]\n[worker]\nconcurrency = 6\nlease_ttl = 20.0\n'
        'per_user_max_concurrent_jobs = 3\nqueue_limits = ["reports=2"]\n'
    )
    assert run("--config", str(config), "worker", env={"CONVEYOR_LEASE_TTL": "40"}).exit_code == 0
    assert run("--config", str(config), "worker", "--concurrency", "2").exit_code == 0
    first, second = fake_worker.made
    assert (first["concurrency"], first["lease_ttl"]) == (6, 40.0)  # the environment wins over the file
    assert first["limits"] == Limits(per_user_max=3, per_queue={"reports": 2})
    assert second["concurrency"] == 2  # and a flag over both
    assert "cli.jobtypes" in sys.modules


def test_a_config_file_may_give_one_value_for_a_repeatable_setting(
    run: Run, fake_worker: type[FakeWorker], tmp_path: Path
) -> None:
    config = tmp_path / "conveyor.toml"
    config.write_text('imports = "cli.jobtypes"\n[worker]\nqueue_limits = "reports=2"\n')
    assert run("--config", str(config), "worker").exit_code == 0
    assert fake_worker.made[0]["limits"] == Limits(per_queue={"reports": 2})


def test_a_config_file_takes_the_options_as_they_are_spelled_on_the_command_line(
    run: Run, fake_worker: type[FakeWorker], tmp_path: Path
) -> None:
    # --queue-limit is queue_limit, as the docs say ("keys named like the options"), as
    # well as queue_limits (the name click gives it); --path is path, --import import
    config = tmp_path / "conveyor.toml"
    config.write_text(
        f'import = "cli.jobtypes"\n[worker]\nqueue_limit = ["reports=2"]\njob_type_limit = "jobs.render=4"\n'
        f"path = [{str(tmp_path)!r}]\n"
    )
    assert run("--config", str(config), "worker").exit_code == 0
    assert fake_worker.made[0]["limits"] == Limits(per_queue={"reports": 2}, per_job_type={"jobs.render": 4})
    assert "cli.jobtypes" in sys.modules
    config.write_text('[worker]\nqueue_limit = "a=1"\nqueue_limits = "b=2"\n')
    twice = "[worker] gives queue_limits twice (queue_limit, queue_limits)"
    assert_user_error(run("--config", str(config), "worker"), 2, twice)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[worker]\nconcurency = 3\n", "'concurency' is not a setting of [worker]"),
        ("[wroker]\nconcurrency = 3\n", "[wroker] is not a command"),
        ("colour = 1\n", "unknown setting 'colour'"),
        ("[worker\n", "cannot be read"),
        ('[worker]\nconcurrency = "lots"\n', "[worker] concurrency = 'lots': 'lots' is not a valid integer"),
        ("[worker]\nlease_ttl = nan\n", "[worker] lease_ttl = nan: nan is not a finite number"),
        ("[worker]\nconcurrency = true\n", "[worker] concurrency = True: a boolean is not a value here"),
        ("[worker]\nname = {a = 1}\n", "[worker] name = {'a': 1}: a table is not a value here"),
        ("[worker]\nconcurrency = 1e400\n", "[worker] concurrency = inf: cannot convert float infinity"),
        ('concurrency = "lots"\n', "top-level concurrency = 'lots': 'lots' is not a valid integer"),  # not [up]'s
        ("[batch]\nmax_jobs = 0\n", "[batch] max_jobs = 0: 0 is not in the range x>=1"),  # for every sub-command
        ("\udcff", "cannot be read"),
    ],
)
def test_a_bad_config_file_is_one_line_with_status_2(run: Run, tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "conveyor.toml"
    config.write_bytes(text.encode(errors="surrogateescape"))  # "\udcff": a byte that is no UTF-8
    assert_user_error(run("--config", str(config), "worker", "--burst"), 2, fragment)


@pytest.mark.parametrize("command", ["worker", "up"])
def test_a_lease_shorter_than_a_second_is_refused_under_its_flag(run: Run, command: str) -> None:
    for flags, env, value in ((["--lease-ttl", "0.5"], {}, "0.5"), ([], {"CONVEYOR_LEASE_TTL": "0.2"}, "0.2")):
        result = run(command, *flags, env=env)
        assert result.exit_code == 2 and "Traceback" not in result.output + result.stderr
        assert "Invalid value for '--lease-ttl'" in result.stderr
        assert f"{value} is not in the range x>=1" in result.stderr


def test_the_config_file_can_come_from_the_environment(run: Run, fake_worker: type[FakeWorker], tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[worker]\nconcurrency = 5\n")
    assert run("worker", env={"CONVEYOR_CONFIG": str(config)}).exit_code == 0
    assert fake_worker.made[0]["concurrency"] == 5
    assert_user_error(run("worker", env={"CONVEYOR_CONFIG": str(tmp_path / "none.toml")}), 2, "does not exist")


def test_no_limits_by_default(run: Run, fake_worker: type[FakeWorker]) -> None:
    assert run("worker").exit_code == 0
    assert not fake_worker.made[0]["limits"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--import", "no_such_module_here"], "cannot import no_such_module_here"),
        (["bad queue "], "must not contain spaces at its ends"),
        (["--queue-limit", "slow"], "expected NAME=N with N >= 1, got 'slow'"),
        (["--job-type-limit", "x=0"], "expected NAME=N with N >= 1, got 'x=0'"),
        (["--queue-rate", "emails=100"], "expected NAME=N/PERIOD (as emails=100/m"),
        (["--queue-rate", "emails=0/m"], "the count must be a whole number of jobs, 1 or more, got 0"),
        (["--job-type-rate", "x=1/2d"], "the period must be at most a day"),
        (["--job-type-rate", "1/s"], "got '1/s'"),
        (["--user-rate", "10"], "Invalid value for '--user-rate': expected N/PERIOD (as 10/s"),
        (["--user-rate", "alice=1/s"], "got 'alice=1/s'"),
    ],
)
def test_bad_setup_is_one_line_with_status_2(run: Run, args: list[str], fragment: str) -> None:
    assert_user_error(run("worker", "--burst", *args), 2, fragment)


def test_a_worker_process_runs_jobs_enqueued_by_the_cli(tmp_path: Path, db_url: str, db: Backend) -> None:
    """The whole path through real processes: the console script and ``python -m conveyor``."""
    env = subprocess_env()
    script = Path(sys.executable).with_name("conveyor")
    ids = []
    for command in (
        [str(script), "enqueue", "jobfuncs.add", "--args", "[1, 2]", "-u", db_url],
        conveyor_cmd("enqueue", "jobfuncs.async_add", "--kwargs", '{"x": 3, "y": 4}', "-u", db_url),
        conveyor_cmd("enqueue", "jobfuncs.fail", "--args", '["no luck"]', "--queue", "second", "-u", db_url),
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
        ids.append(done.stdout.strip())

    worker = subprocess.run(
        conveyor_cmd("worker", "default", "second", "--burst", "--concurrency", "2", "-u", db_url),
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    assert "stopped after 3 jobs" in worker.stderr
    added, async_added, failed = (Job.fetch(job_id, connection=db) for job_id in ids)
    assert (added.get_status(), added.result) == (JobStatus.FINISHED, 3)
    assert (async_added.get_status(), async_added.result) == (JobStatus.FINISHED, 7)
    assert failed.get_status() is JobStatus.FAILED
    assert "no luck" in (failed.exc_info or "")


def test_a_worker_started_before_its_redis_waits_for_it_and_a_burst_worker_does_not(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # its port chosen, nothing listening yet
    burst = subprocess.run(
        conveyor_cmd("worker", "--burst", "-u", redis.url),
        env=subprocess_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert burst.returncode == 1
    assert "cannot be reached" in burst.stderr and "trying again" not in burst.stderr
    try:
        with worker_waiting_for(redis.url, tmp_path) as (worker, output):
            output.wait_for("trying again in 0.5s")
            output.wait_for("trying again in 1s")  # backing off
            redis.start()
            assert_it_runs_a_job(worker, redis.url)
    finally:
        redis.stop()


@contextlib.contextmanager
def worker_waiting_for(url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], LineReader]]:
    """``conveyor worker`` started on a store not up yet, its log read line by line; killed at the end."""
    worker = subprocess.Popen(
        conveyor_cmd("worker", "-u", url, "--poll-interval", "0.1"),
        env=subprocess_env(), stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        yield worker, LineReader(worker.stderr)  # type: ignore[arg-type]
    finally:
        worker.kill()
        worker.wait(timeout=10)


def assert_it_runs_a_job(worker: subprocess.Popen[str], url: str) -> None:
    """The store is up now: the worker that waited for it goes on and runs a job."""
    job = Queue(connection=conveyor.connect(url)).enqueue(jobfuncs.add, 2, 3)
    wait_until(lambda: job.get_status() is JobStatus.FINISHED, timeout=60, message="the job run")
    assert (worker.poll(), job.result) == (None, 5), "it goes on"


def test_a_worker_started_before_its_redis_sentinels_waits_for_them(tmp_path: Path) -> None:
    deployment = SentinelDeployment(tmp_path)  # its ports chosen, nothing listening yet
    try:
        with worker_waiting_for(deployment.url, tmp_path) as (worker, output):
            waiting = output.wait_for("trying again in 0.5s")
            assert "no Sentinel of redis+sentinel://:***@127.0.0.1:" in waiting
            assert NODE_PASSWORD not in waiting and SENTINEL_PASSWORD not in waiting
            deployment.start()
            assert_it_runs_a_job(worker, deployment.url)
    finally:
        deployment.stop()


def test_a_worker_given_a_sqlite_path_that_cannot_be_fails_at_once_rather_than_waiting(tmp_path: Path) -> None:
    done = subprocess.run(
        conveyor_cmd("worker", "-u", f"sqlite:///{tmp_path}/missing/dir/jobs.db"),
        env=subprocess_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot open {tmp_path}/missing/dir/jobs.db: directory {tmp_path}/missing/dir does not exist"
    ]


def test_a_worker_process_reports_a_bad_url_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        conveyor_cmd("worker", "--burst", "-u", "postgres://nowhere/db"),
        env=subprocess_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: unsupported backend URL 'postgres://nowhere/db': use sqlite:///path/to/file.db or redis://host:port/db"
    ]


def test_the_worker_ttl_comes_from_the_environment_or_its_flag(run: Run, fake_worker: type[FakeWorker]) -> None:
    assert run("worker", "--burst", env={"CONVEYOR_WORKER_TTL": "90"}).exit_code == 0
    assert run("worker", "--burst", "--worker-ttl", "45", env={"CONVEYOR_WORKER_TTL": "90"}).exit_code == 0
    assert [made["worker_ttl"] for made in fake_worker.made] == [90.0, 45.0]


def test_the_pool_comes_from_the_environment_or_its_flag(run: Run, fake_worker: type[FakeWorker]) -> None:
    assert run("worker", "--burst").exit_code == 0
    assert run("worker", "--burst", env={"CONVEYOR_POOL": "processes"}).exit_code == 0
    assert run("worker", "--burst", "--pool", "threads", env={"CONVEYOR_POOL": "processes"}).exit_code == 0
    assert [made["pool"] for made in fake_worker.made] == ["threads", "processes", "threads"]
    refused = run("worker", "--pool", "forks")
    assert refused.exit_code == 2 and "'forks' is not one of 'threads', 'processes'" in refused.output


def test_per_child_limits_reach_the_worker(run: Run, fake_worker: type[FakeWorker]) -> None:
    flags = ["--pool", "processes", "--max-jobs-per-child", "100", "--max-memory-per-child", "512"]
    assert run("worker", "--burst", *flags).exit_code == 0
    (made,) = fake_worker.made
    assert (made["max_jobs_per_child"], made["max_memory_per_child"]) == (100, 512.0)


def test_timing_settings_come_from_flags_or_the_environment(run: Run, fake_worker: type[FakeWorker]) -> None:
    assert run("worker", "--burst").exit_code == 0
    env = {"CONVEYOR_SHUTDOWN_TIMEOUT": "45", "CONVEYOR_INTERRUPT_GRACE": "3"}
    flags = ["--poll-interval", "0.5", "--maintenance-interval", "120", "--shutdown-timeout", "20"]
    assert run("worker", "--burst", *flags, env=env).exit_code == 0
    names = ("shutdown_timeout", "interrupt_grace", "poll_interval", "maintenance_interval")
    assert [tuple(made[name] for name in names) for made in fake_worker.made] == [
        (25.0, 10.0, 1.0, 600.0),  # the Worker's own defaults
        (20.0, 3.0, 0.5, 120.0),
    ]
    refused = run("worker", "--shutdown-timeout", "0")
    assert refused.exit_code == 2 and "--shutdown-timeout" in refused.output


def test_a_url_given_as_a_queue_name_is_refused(run: Run, fake_worker: type[FakeWorker]) -> None:
    result = run("worker", "--burst", "sqlite:////tmp/jobs.db")
    assert result.exit_code == 2 and "is a backend URL, not a queue name: give it with -u/--url" in result.output
    assert fake_worker.made == []


def test_a_worker_that_stopped_itself_exits_non_zero_saying_why(
    run: Run, fake_worker: type[FakeWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_worker, "failure", "no job process could start 5 times in a row")
    result = run("worker", "--pool", "processes")
    assert result.exit_code == 1
    assert "Error: the worker stopped: no job process could start 5 times in a row" in result.output


def test_up_hands_its_worker_settings_to_its_worker(run: Run, fake_worker: type[FakeWorker], db_url: str) -> None:
    from conveyor.cli.commands_up import WorkerSettings, worker_command
    from conveyor.cli.options import App
    from conveyor.cli.output import Output

    limits = Limits(20, 4, {"slow": 1}, {"jobs.render": 2}, {"mail": "100/m"}, {"jobs.call": (3, 1.5)})
    settings = WorkerSettings(6, "processes", 12.5, 90.0, limits)
    command = worker_command(App(db_url, ("jobfuncs",), Output(False)), ["demo", "default"], settings, burst=True)
    assert command[:4] == [sys.executable, "-m", "conveyor", "worker"]
    assert run(*command[3:]).exit_code == 0  # the very command line, parsed by the worker command
    (made,) = fake_worker.made
    assert (made["queues"], made["concurrency"], made["pool"], made["lease_ttl"], made["worker_ttl"]) == (
        ["demo", "default"], 6, "processes", 12.5, 90.0,
    )  # fmt: skip
    assert (made["limits"], made["burst"]) == (limits, True)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_lease_or_wait_that_is_not_a_finite_number_is_refused(run: Run, value: str) -> None:
    for flags, env in ((["--lease-ttl", value], {}), ([], {"CONVEYOR_SHUTDOWN_TIMEOUT": value})):
        result = run("worker", "--burst", *flags, env=env)
        assert result.exit_code == 2, result.output
        assert "finite number" in result.output or "x>0" in result.output or "x>=1" in result.output


def test_rqs_config_module_given_to_c_says_it_is_not_taken(run: Run) -> None:
    result = run("worker", "--burst", "-c", "myapp.settings")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert (
        "'myapp.settings' is not a number of jobs (rq's -c/--config settings module is not taken: settings come "
        "from conveyor --config FILE, a TOML file, or the environment)"
    ) in result.stderr
    assert "0 is not in the range x>=1" in run("worker", "--burst", "-c", "0").stderr
