"""``conveyor enqueue``: storing calls from the command line, and its input errors."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from conveyor import Job
from conveyor.backends.base import Backend
from conveyor.status import JobStatus

from .conftest import Run, assert_user_error, put_job


def test_prints_the_job_id_of_the_stored_call(run: Run, db: Backend) -> None:
    result = run("enqueue", "jobfuncs.add", "--args", "[1, 2]")
    assert result.exit_code == 0, result.stderr
    job = Job.fetch(result.stdout.strip(), connection=db)
    assert (job.func_name, job.args, job.kwargs, job.origin) == ("jobfuncs.add", (1, 2), {}, "default")
    assert job.get_status() is JobStatus.QUEUED


def test_json_output_and_job_options(run: Run, db: Backend) -> None:
    result = run(
        "enqueue", "jobfuncs.add", "--kwargs", '{"x": 2, "y": 3}', "--queue", "high", "--priority", "5",
        "--timeout", "1h", "--job-id", "my-job", "--description", "two and three", "--retry", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["job_id"] == "my-job"
    assert data["status"] == "queued"
    assert data["queue"] == "high"
    assert data["func_name"] == "jobfuncs.add"
    assert data["priority"] == 5
    assert data["enqueued_at"].endswith("Z")
    assert data["scheduled_for"] is None
    job = Job.fetch("my-job", connection=db)
    assert job.kwargs == {"x": 2, "y": 3}
    assert (job.timeout, job.max_retries, job.description) == (3600.0, 2, "two and three")


def test_a_typed_value_in_celerys_json_form_reaches_the_job_as_itself(run: Run, db: Backend) -> None:
    since = '{"since": {"__type__": "datetime", "__value__": "2030-01-01T09:00:00+00:00"}}'
    result = run("enqueue", "jobfuncs.echo", "--kwargs", '{"value": ' + since + "}")
    assert result.exit_code == 0, result.stderr
    job = Job.fetch(result.stdout.strip(), connection=db)
    assert job.kwargs == {"value": {"since": datetime(2030, 1, 1, 9, tzinfo=UTC)}}


def test_retry_on_names_the_exceptions_retried(run: Run, db: Backend) -> None:
    result = run(
        "enqueue", "jobfuncs.noop", "--retry", "3", "--retry-on", "ConnectionError", "--retry-on", "jobfuncs.Unrelated"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    job = Job.fetch(result.stdout.strip(), connection=db)
    assert (job.max_retries, job.retry_on) == (3, ["ConnectionError", "jobfuncs.Unrelated"])


def test_at_front_puts_the_job_before_those_of_its_priority_already_queued(run: Run, db: Backend) -> None:
    first = run("enqueue", "jobfuncs.noop").stdout.strip()
    front = run("enqueue", "jobfuncs.noop", "--at-front").stdout.strip()
    assert Job.fetch(front, connection=db).enqueue_at_front
    assert (db.queue_position(front), db.queue_position(first)) == (0, 1)


def test_at_schedules_the_job_and_takes_a_naive_time_as_utc(run: Run, db: Backend) -> None:
    zoned = json.loads(run("enqueue", "jobfuncs.noop", "--at", "2030-01-01T09:00:00+02:00", "--json").stdout)
    naive = json.loads(run("enqueue", "jobfuncs.noop", "--at", "2030-01-01T07:00:00", "--json").stdout)
    for data in (zoned, naive):
        assert data["status"] == "scheduled"
        assert data["scheduled_for"] == "2030-01-01T07:00:00.000Z"
        job = Job.fetch(data["job_id"], connection=db)
        assert job.scheduled_for == datetime(2030, 1, 1, 7, tzinfo=UTC)


def test_in_schedules_the_job_after_a_delay(run: Run, db: Backend) -> None:
    before = time.time()
    result = run("enqueue", "jobfuncs.noop", "--in", "5m")
    assert result.exit_code == 0, result.stderr
    job = Job.fetch(result.stdout.strip(), connection=db)
    assert job.get_status() is JobStatus.SCHEDULED
    assert job.record.scheduled_for is not None
    assert before + 300 <= job.record.scheduled_for <= time.time() + 300


def test_a_registered_job_type_is_found_through_import(run: Run, db: Backend) -> None:
    result = run("enqueue", "cli-test-multiply", "--args", "[6, 7]", "--import", "cli.jobtypes")
    assert result.exit_code == 0, result.stderr
    assert Job.fetch(result.stdout.strip(), connection=db).func_name == "cli-test-multiply"


def test_depends_on_defers_the_job(run: Run, db: Backend) -> None:
    first = put_job(db)
    result = run("enqueue", "jobfuncs.noop", "--depends-on", first.id, "--json")
    assert json.loads(result.stdout)["status"] == "deferred"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--args", "[1,"], "Invalid value for '--args': not valid JSON"),
        (["--args", '{"x": 1}'], "Invalid value for '--args': expected a JSON array"),
        (["--kwargs", "[1]"], "Invalid value for '--kwargs': expected a JSON object"),
        (["--kwargs", "{x: 1}"], "Invalid value for '--kwargs': not valid JSON"),
        (["--args", "[" * 5000 + "]" * 5000], "Invalid value for '--args': nested too deeply"),
        (["--kwargs", '{"n": ' + "9" * 5000 + "}"], "Invalid value for '--kwargs': Exceeds the limit"),
        (["--at", "tomorrow"], "'tomorrow' is not an ISO 8601 time"),
        (["--in", "soon"], "--in 'soon' is not a duration"),
        (["--in", "-1"], "--in cannot be -1"),
        (["--in", "99999999999d"], "--in must be at most 100 years, got"),
        (["--at", "9999-12-31T00:00:00Z"], "at most 100 years ahead"),
        (["--timeout", "forever"], "timeout 'forever' is not a duration"),
        (["--at", "2030-01-01", "--in", "5"], "--at and --in cannot be used together"),
        (["--queue", " padded "], "must not contain spaces at its ends"),
        (["--import", "no_such_module_here"], "cannot import no_such_module_here"),
        (["--args", ""], "Invalid value for '--args': empty, not JSON"),
        (["--kwargs", " "], "Invalid value for '--kwargs': empty, not JSON"),
        (["--import", "="], "the import entry '=' names no job type or no function: use NAME=module.function"),
        (["--import", "name="], "the import entry 'name=' names no job type or no function"),
        (["--import", "=jobfuncs.add"], "the import entry '=jobfuncs.add' names no job type or no function"),
        (["--retry-on", "ConnectionError"], "--retry-on needs --retry N"),
        (["--retry", "2", "--retry-on", "ConnectionEror"], "Retry on: 'ConnectionEror' is not a built-in exception"),
    ],
)
def test_bad_input_is_one_line_with_status_2(run: Run, db: Backend, args: list[str], fragment: str) -> None:
    assert_user_error(run("enqueue", "jobfuncs.noop", *args), 2, fragment)
    assert db.counts() == {}


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("no_such_module.func", "no module found for 'no_such_module.func'"),
        ("jobfuncs.no_such_function", "module jobfuncs has no attribute no_such_function"),
        ("unregistered-type", "'unregistered-type' is not a job type registered in this process"),
        (".", "'.' is neither a registered job type nor an import path such as module.function"),
        ("..jobfuncs", "'..jobfuncs' is neither a registered job type nor an import path"),
        ("jobfuncs.", "'jobfuncs.' is neither a registered job type nor an import path"),
        ("jobfuncs..add", "'jobfuncs..add' is neither a registered job type nor an import path"),
    ],
)
def test_an_unknown_function_is_refused_before_storing(run: Run, db: Backend, name: str, fragment: str) -> None:
    assert_user_error(run("enqueue", name), 2, fragment)
    assert db.counts() == {}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([], "missing a required argument: 'x' (it takes (x, y))"),
        (["--args", "[1, 2, 3]"], "too many positional arguments"),
        (["--args", "[1]", "--kwargs", '{"x": 2}'], "multiple values for argument 'x'"),
        (["--args", "[1, 2]", "--kwargs", '{"z": 2}'], "got an unexpected keyword argument 'z'"),
    ],
)
def test_arguments_the_function_cannot_take_are_refused_before_storing(
    run: Run, db: Backend, args: list[str], reason: str
) -> None:
    assert_user_error(run("enqueue", "jobfuncs.add", *args), 2, f"the arguments do not fit jobfuncs.add: {reason}")
    assert db.counts() == {}


def test_a_job_id_in_use_is_status_1(run: Run, db: Backend) -> None:
    put_job(db, id="taken")
    assert_user_error(run("enqueue", "jobfuncs.noop", "--job-id", "taken"), 1, "Job id 'taken' is already used")


def test_an_unknown_dependency_is_status_1(run: Run) -> None:
    assert_user_error(run("enqueue", "jobfuncs.noop", "--depends-on", "missing"), 1, "Job missing not found")


@pytest.mark.parametrize("job_id", ["a/b", "stats", "..", " padded", "x" * 201])
def test_a_job_id_breaking_the_rule_exits_2_naming_the_rule(run: Run, db: Backend, job_id: str) -> None:
    result = run("enqueue", "jobfuncs.add", "--args", "[1, 2]", "--job-id", job_id)
    assert_user_error(result, 2, "a job id is 1 to 200 characters")
    assert db.counts() == {}


def test_a_job_command_given_an_id_breaking_the_rule_finds_no_job(run: Run, db: Backend) -> None:
    for command in ("cancel", "requeue"):
        assert_user_error(run(command, "a/b"), 1, "Job a/b not found")
