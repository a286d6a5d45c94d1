"""What every command shares: -u/--url after the command, settings from the environment,
and user errors reported as one line with status 1 or 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import conveyor
from conveyor import Job
from conveyor.backends.base import Backend
from conveyor.cli import cli

from .conftest import Run, assert_user_error, conveyor_cmd, put_job, subprocess_env

EVERY_COMMAND = [
    ("up", "--burst-demo"),
    ("worker", "--burst"),
    ("enqueue", "jobfuncs.noop"),
    ("info",),
    ("requeue", "--all"),
    ("cancel", "some-id"),
    ("stop", "some-id"),
    ("empty", "default"),
    ("cleanup",),
]
COMMAND_IDS = [args[0] for args in EVERY_COMMAND]


@pytest.mark.parametrize("args", EVERY_COMMAND, ids=COMMAND_IDS)
@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgres://db.example/jobs", "unsupported backend URL 'postgres://db.example/jobs'"),
        ("sqlite://relative.db", "malformed SQLite URL"),
        ("sqlite:///", "names no file"),
        ("sqlite:///x.db?journal=wal", "unknown SQLite URL options: journal"),
    ],
    ids=["scheme", "malformed", "no-file", "option"],
)
def test_a_bad_url_is_one_line_with_status_2(run: Run, args: tuple[str, ...], url: str, fragment: str) -> None:
    assert_user_error(run(*args, url=url), 2, fragment)


@pytest.mark.parametrize("args", EVERY_COMMAND, ids=COMMAND_IDS)
def test_a_missing_database_directory_is_status_2(run: Run, tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'conveyor.db'}"
    assert_user_error(run(*args, url=url), 2, "does not exist")


def test_a_database_under_a_file_is_status_2(run: Run, tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    assert_user_error(run("info", url=f"sqlite:///{tmp_path / 'plain-file' / 'conveyor.db'}"), 2, "does not exist")


@pytest.mark.parametrize(
    ("path", "fragment"), [("/dev/null", "not a regular file"), ("/tmp/" + "a" * 300 + ".db", "File name too long")]
)
def test_a_database_path_that_cannot_be_a_file_is_status_2(run: Run, path: str, fragment: str) -> None:
    assert_user_error(run("info", url=f"sqlite:///{path}"), 2, fragment)


def test_an_unwritable_database_directory_is_status_2(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root may write anywhere, so the permission check is made to fail for this directory only."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        return False if Path(str(path)) == locked else real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)  # cleanup writes: info would only read (and create nothing)
    assert_user_error(run("cleanup", url=f"sqlite:///{locked / 'conveyor.db'}"), 2, "is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_is_status_2(run: Run, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert_user_error(run("cleanup", url=f"sqlite:///{locked / 'conveyor.db'}"), 2, "is not writable")
    finally:
        locked.chmod(0o700)


def test_the_url_comes_from_conveyor_url_when_no_flag(run: Run, db_url: str, db: Backend) -> None:
    job = put_job(db)
    data = json.loads(run("info", "--json", url=None, env={"CONVEYOR_URL": db_url}).stdout)
    assert data["queues"][0]["total"] == 1
    result = run("cancel", job.id, url=None, env={"CONVEYOR_URL": db_url})
    assert result.exit_code == 0, result.stderr


def test_the_url_flag_wins_over_conveyor_url(run: Run, db: Backend, tmp_path: Path) -> None:
    put_job(db)
    env = {"CONVEYOR_URL": "postgres://not-used/db"}
    assert json.loads(run("info", "--json", env=env).stdout)["queues"][0]["total"] == 1


def test_the_default_is_conveyor_db_in_the_working_directory(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("enqueue", "jobfuncs.noop", url=None)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "conveyor.db").exists()


def test_conveyor_imports_is_comma_separated(tmp_path: Path, db_url: str, db: Backend) -> None:
    """In fresh processes, so the job type is registered only by what the environment imports."""
    missing = in_fresh_process(tmp_path, "", "enqueue", "cli-test-multiply", "-u", db_url)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "Error: 'cli-test-multiply' is not a job type registered in this process:"
        " import the module that registers it (--import MODULE, or CONVEYOR_IMPORTS)"
    )
    job_id = enqueue_then_work(tmp_path, "jobfuncs, cli.jobtypes", db_url, "cli-test-multiply", "[6, 7]")
    assert Job.fetch(job_id, connection=db).result == 42


def in_fresh_process(cwd: Path, imports: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A conveyor command in a process of its own, with CONVEYOR_IMPORTS set to ``imports``."""
    env = subprocess_env(CONVEYOR_IMPORTS=imports) if imports else subprocess_env()
    return subprocess.run(
        conveyor_cmd(*arguments), env=env, capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def enqueue_then_work(cwd: Path, imports: str, url: str, job_type: str, args: str) -> str:
    """Enqueue a job and run a burst worker, each in a fresh process; the job's id."""
    enqueued = in_fresh_process(cwd, imports, "enqueue", job_type, "--args", args, "-u", url)
    assert enqueued.returncode == 0, enqueued.stderr
    worker = in_fresh_process(cwd, imports, "worker", "--burst", "-u", url)
    assert worker.returncode == 0, worker.stderr
    return enqueued.stdout.strip()


@pytest.mark.parametrize("name", COMMAND_IDS)
def test_every_command_documents_url_and_import(name: str) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    for text in ("-u, --url", "CONVEYOR_URL", "--import MODULE", "CONVEYOR_IMPORTS"):
        assert text in result.stdout, text


def test_version() -> None:
    from click.testing import CliRunner

    from conveyor import __version__

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_an_unknown_command_is_a_usage_error(run: Run) -> None:
    result = run("frobnicate", url=None)
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_a_job_type_can_be_registered_by_configuration(tmp_path: Path, db_url: str, db: Backend) -> None:
    """``name=module.function`` in CONVEYOR_IMPORTS: a job type without the decorator."""
    job = Job.fetch(enqueue_then_work(tmp_path, "configured-add=jobfuncs.add", db_url, "configured-add", "[2, 3]"),
                    connection=db)  # fmt: skip
    assert (job.func_name, job.result) == ("configured-add", 5)
    broken = in_fresh_process(tmp_path, "typo=jobfuncs.ad", "enqueue", "configured-add", "-u", db_url)
    assert broken.returncode == 2
    assert broken.stderr.strip() == "Error: job type 'typo' = 'jobfuncs.ad': module jobfuncs has no attribute ad"


def test_serve_reports_the_limits_its_flags_give(db_url: str) -> None:
    import asyncio

    import httpx

    from conveyor.cli.options import App
    from conveyor.cli.output import Output
    from conveyor.cli.serving import build_api
    from conveyor.types import Limits

    async def stats_of(api: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://conveyor") as client:
            return dict((await client.get("/api/v1/jobs/queue/stats")).json())

    app = App(db_url, (), Output(False))
    api = build_api(app, "127.0.0.1", Limits(7, 2, per_queue_rate={"emails": "100/m"}, per_user_rate="10/s"))
    try:
        stats = asyncio.run(stats_of(api))
        assert (stats["global_max_concurrent_jobs"], stats["per_user_max_concurrent_jobs"]) == (7, 2)
        assert (stats["queue_rates"], stats["job_type_rates"]) == ({"emails": {"count": 100, "period_seconds": 60}}, {})
        assert stats["user_rate"] == {"count": 10, "period_seconds": 1}
    finally:
        api.state.conveyor.hub.stop()
        app.close()


@pytest.mark.parametrize("flags", [["--rate-limit", "x"], ["--rate-limit", "5/fortnight"]])
def test_a_bad_server_flag_is_reported_under_the_flag_given(run: Run, flags: list[str]) -> None:
    result = run("serve", *flags)
    assert result.exit_code == 2 and "Traceback" not in result.output + result.stderr
    assert "Invalid value for '--rate-limit'" in result.stderr and "must look like 600/min" in result.stderr


@pytest.mark.parametrize("command", ["serve", "up"])
def test_serving_without_the_server_extra_is_a_setup_error_status_2(
    run: Run, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # it was status 1, which the CLI keeps for operations that cannot be done
    monkeypatch.setitem(sys.modules, "conveyor.server", None)  # as if fastapi were not installed
    # the suite runs on a checkout installed with pip install -e: the command names that checkout
    checkout = str(Path(conveyor.__file__).resolve().parents[2])
    assert_user_error(run(command, "--port", "0"), 2, f"needs the server extra: pip install -e '{checkout}[server]'")


def test_an_empty_rate_limit_flag_means_none_as_an_empty_variable_does() -> None:
    from conveyor.cli.serving import RateLimitText

    assert RateLimitText().convert("", None, None) == ""


NOT_UTF8 = b"x\xff".decode("utf-8", "surrogateescape")
"""An argument holding a byte that is not UTF-8 (`conveyor cancel $'x\\xff'`), as Python reads it."""


@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        (("cancel", NOT_UTF8), 1, "Job x\\udcff not found"),
        (("stop", NOT_UTF8), 1, "Job x\\udcff not found"),
        (("requeue", NOT_UTF8), 1, "Job x\\udcff not found"),
        (("empty", NOT_UTF8), 2, "queue name 'x\\udcff' must be text"),
        (("worker", "--burst", NOT_UTF8), 2, "queue name 'x\\udcff' must be text"),
        (("enqueue", "jobfuncs.noop", "--job-id", NOT_UTF8), 2, "invalid job id 'x\\udcff'"),
        (("enqueue", "jobfuncs.noop", "--queue", NOT_UTF8), 2, "must be text"),
        (("enqueue", "jobfuncs.noop", "--description", NOT_UTF8), 2, "description must be a string of text"),
        (("enqueue", "jobfuncs.noop", "--depends-on", NOT_UTF8), 1, "Job x\\udcff not found"),
        (("batch", "show", NOT_UTF8), 1, "Batch x\\udcff not found"),
        (("batch", "list", "--before", NOT_UTF8), 2, "an argument is not text"),
    ],
    ids=["cancel", "stop", "requeue", "empty", "worker", "job-id", "queue", "description", "depends-on",
         "batch-show", "batch-list"],
)  # fmt: skip
def test_an_argument_that_is_not_utf8_is_one_line_on_each_backend(
    run: Run, url: str, backend: Backend, args: tuple[str, ...], status: int, fragment: str
) -> None:
    """Such arguments were tracebacks (UnicodeEncodeError from the store's driver), on Redis
    even for reads; now the library refuses them by name, and the rest are one line."""
    assert_user_error(run(*args, url=url), status, fragment)
    assert backend.counts() == {}, "nothing stored"
