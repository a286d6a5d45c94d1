"""The docs' examples, run or checked, so that they cannot go stale silently.

- Every ```python block of the README runs, statement by statement, in one module on a
  SQLite file (the Redis block on the test redis-server); the few it cannot run as
  written are rewritten or skipped below, each with its reason, and each rewrite must
  still match the text.
- Every option docs/cli.md names is in the ``--help`` of its command.
- Every ``conveyor`` command line of docs/deploying.md (shell, unit file, manifest) is
  a command with those options, and every setting it names exists.
- The fields docs/rest.md lists for each response are those the API answers.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner
from httpx import ASGITransport

import conveyor
import conveyor.functions
import jobfuncs  # noqa: F401  (registers JOB_TYPE)
from conveyor import Queue
from conveyor.cli import cli
from conveyor.exceptions import InvalidJobOperation, NoSuchJobError
from conveyor.server import Settings, create_app
from conveyor.types import CronEntryRecord, WorkerRecord
from redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_MD = ROOT / "docs" / "cli.md"
REST_MD = ROOT / "docs" / "rest.md"
DEPLOYING_MD = ROOT / "docs" / "deploying.md"
JOB_TYPE = "tests.extraction"  # registered by jobfuncs
MODULE = "readme_example"  # the module the README's blocks run in, so their functions can be enqueued

# Names the README's prose takes as given: a job function, a job to depend on, users.
PRELUDE = """
import conveyor

def f(*args, **kwargs):
    return list(args)

def send_mail(user):
    return user

def report(batch_id):
    return batch_id

def alert(batch_id):
    return batch_id

users = ["ann@example.com", "bob@example.com"]
"""

# Code run before the block whose first line is the key: what the block's prose assumes.
SETUP = {
    "from datetime import datetime, timedelta, UTC": "other_job = Queue(connection=conn).enqueue(f, 0)",
    "from conveyor import cancel_job, send_stop_job_command": "job = q.enqueue(f, 1); job_id = q.enqueue(f, 2).id",
    "from conveyor.registry import (StartedJobRegistry,": "job = q.enqueue_in(timedelta(hours=1), f)",
    "from conveyor import SimpleWorker, Worker": "high = Queue('high', connection=conn); default = q",
}

# Text rewritten before a block runs (each must still be found): paths and waits of a real deployment.
REWRITES = {
    "sqlite:////var/lib/app/jobs.db?synchronous=FULL": "sqlite:///app-jobs.db?synchronous=FULL",  # no /var/lib/app
    "job.latest_result(timeout=30)": "job.latest_result(timeout=0)",  # the job is queued: nothing to wait for
    "job.wait(timeout=30)": "job.wait(timeout=0)",  # likewise
    "res.wait(timeout=10)": "res.wait(timeout=0)",  # likewise (scheduled)
    "Batch.fetch(batch_id,": "Batch.fetch(batch.id,",  # the batch just made
    "concurrency=8).work()": "concurrency=8).work(burst=True)",  # work() runs until stopped
    'max_idle_time=60, logging_level="INFO")': 'max_idle_time=60, logging_level="INFO", burst=True)',
    "SimpleWorker([q]).work()": "SimpleWorker([q]).work(burst=True)",
}

# Blocks not run here (by first line), and why.
SKIPPED = {
    "job.get_status()           # finished": "needs a worker to fetch http://nvie.com: no network in tests",
    'conn = conveyor.connect("redis://localhost:6379/0")': "Redis: test_readme_redis_block runs it",
}

# Statements that raise as the README says they do (by their first line), given the job's status here.
EXPECTED_ERRORS: dict[str, type[Exception]] = {
    "send_stop_job_command(conn, job_id)": InvalidJobOperation,  # the job is queued, not running
    "registry.get_expiration_time(job)": NoSuchJobError,  # the job is scheduled, not in the failed registry
    "registry.remove(job, delete_job=True)": NoSuchJobError,  # likewise
}


def blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """The (line, code) of each fenced block of ``language`` in ``path``, dedented."""
    text = path.read_text()
    found = []
    for match in re.finditer(rf"^( *)```{language}\n(.*?)^\1```", text, re.S | re.M):
        indent = len(match.group(1))
        code = "".join(line[indent:] + "\n" for line in match.group(2).splitlines())
        found.append((text[: match.start()].count("\n") + 1, code))
    return found


def first_line(code: str) -> str:
    return code.splitlines()[0].strip()


def for_block(table: dict[str, str], code: str) -> str | None:
    """The entry of ``table`` for the block whose first line starts with its key."""
    return next((value for key, value in table.items() if first_line(code).startswith(key)), None)


@pytest.fixture
def readme_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A module to run the README in, in a fresh directory that is the default store's, and
    job types registered meanwhile forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CONVEYOR_URL", f"sqlite:///{tmp_path / 'conveyor.db'}")
    monkeypatch.setattr(conveyor.functions, "_JOB_TYPES", dict(conveyor.functions._JOB_TYPES))
    monkeypatch.setattr(conveyor.functions, "_JOB_TYPE_OF_PATH", dict(conveyor.functions._JOB_TYPE_OF_PATH))
    module = types.ModuleType(MODULE)
    monkeypatch.setitem(sys.modules, MODULE, module)
    exec(compile(PRELUDE, "prelude", "exec"), module.__dict__)
    yield module
    for name, loaded in list(sys.modules.items()):  # tasks, myapp.jobs: written here, gone with tmp_path
        if str(tmp_path) in str(getattr(loaded, "__file__", None) or list(getattr(loaded, "__path__", []))):
            del sys.modules[name]
    for value in module.__dict__.values():
        if type(value).__module__.startswith("conveyor.backends."):  # the connections the blocks opened
            value.close()
    conveyor.functions._cached_function_name.cache_clear()


def run_block(module: types.ModuleType, line: int, code: str, tmp_path: Path) -> None:
    """Run ``code`` one statement at a time; a block that opens with ``# path.py`` is that file."""
    named = re.fullmatch(r"# ([\w/]+\.py)", first_line(code))
    if named:
        path = tmp_path / named.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        return
    setup = for_block(SETUP, code)
    if setup is not None:
        exec(setup, module.__dict__)
    for node in ast.parse(code).body:
        statement = ast.get_source_segment(code, node) or ""
        expected = EXPECTED_ERRORS.get(statement.splitlines()[0].strip())
        where = f"README.md:{line + node.lineno - 1}"
        try:
            exec(compile(ast.Module([node], []), where, "exec"), module.__dict__)
        except Exception as exc:
            if expected is not None and isinstance(exc, expected):
                continue
            raise AssertionError(f"{where}: {statement!r} raised {type(exc).__name__}: {exc}") from exc
        assert expected is None, f"{where}: {statement!r} was expected to raise {expected.__name__}"


def rewritten(code: str, used: set[str]) -> str:
    for old, new in REWRITES.items():
        if old in code:
            used.add(old)
            code = code.replace(old, new)
    return code


def test_readme_python_blocks_run(readme_module: types.ModuleType, tmp_path: Path) -> None:
    used: set[str] = set()
    for line, code in blocks(README, "python"):
        if for_block(SKIPPED, code) is None:
            run_block(readme_module, line, rewritten(code, used), tmp_path)
    assert used == set(REWRITES), f"rewrites that no longer match the README: {set(REWRITES) - used}"
    firsts = [first_line(code) for _, code in blocks(README, "python")]
    stale = [key for key in (*SETUP, *SKIPPED) if not any(line.startswith(key) for line in firsts)]
    assert not stale, f"blocks named here that the README no longer has: {stale}"


def test_readme_redis_block(readme_module: types.ModuleType, tmp_path: Path, redis_server: RedisServer) -> None:
    (line, code), *_ = [(line, code) for line, code in blocks(README, "python") if "redis://localhost:6379" in code]
    code = code.replace("redis://localhost:6379/0", redis_server.url)
    code = code.replace("unix:///run/redis.sock?db=0&", f"{redis_server.url}?")  # no socket file here
    run_block(readme_module, line, code, tmp_path)
    queue = Queue(connection=readme_module.conn)
    assert queue.enqueue("tasks.anything").get_status() == "queued"


def test_the_first_steps_of_the_readme(readme_module: types.ModuleType, tmp_path: Path) -> None:
    """Quick start: tasks.py, then a job enqueued from it reads back queued (running it needs the network)."""
    (_, tasks), (line, enqueue), *_ = blocks(README, "python")
    run_block(readme_module, 0, tasks, tmp_path)
    run_block(readme_module, line, enqueue, tmp_path)
    job = readme_module.job
    assert job.get_status() == "queued" and job.func_name == "tasks.count_words_at_url"


def cli_sections() -> Iterator[tuple[str, list[str], str]]:
    """(command, sub-commands, text) of each ``## `conveyor ...` `` section of docs/cli.md."""
    for section in re.split(r"^## ", CLI_MD.read_text(), flags=re.M)[1:]:
        head = re.match(r"`conveyor ([a-z]+) ?([a-z|]*)", section)
        if head:
            subs = head.group(2).split("|") if "|" in head.group(2) else []
            yield head.group(1), subs, section


# Options a section names that belong to another command: rq's and worker's.
OTHER_COMMANDS_OPTIONS = {("worker", "--config"), ("shutdown", "--shutdown-timeout")}


def test_every_option_of_cli_md_is_in_its_commands_help() -> None:
    runner = CliRunner()
    checked = 0
    for command, subs, text in cli_sections():
        helps = [runner.invoke(cli, [command, *([sub] if sub else []), "--help"]) for sub in subs or [""]]
        assert all(result.exit_code == 0 for result in helps), command
        help_text = "".join(result.output for result in helps)
        for option in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", text)):
            if (command, option) not in OTHER_COMMANDS_OPTIONS:
                assert option in help_text, f"docs/cli.md names {option} for conveyor {command}: not in its --help"
                checked += 1
    assert checked > 60


def test_every_option_of_a_commands_help_is_in_its_cli_md_section() -> None:
    preamble = re.split(r"^## ", CLI_MD.read_text(), flags=re.M)[0]  # options every command takes
    missing = []
    for command, subs, text in cli_sections():
        group = cli.commands[command]
        for sub in subs or [""]:
            target = group.commands[sub] if isinstance(group, click.Group) else group
            for param in target.params:
                names = (
                    [name for name in param.opts if name.startswith("--")] if isinstance(param, click.Option) else []
                )
                if names and not any(re.search(rf"{name}\b", text + preamble) for name in names):
                    missing.append(f"conveyor {command} {sub} {names[0]}".replace("  ", " "))
    assert not missing, f"in --help, not in docs/cli.md: {missing}"


def test_every_command_of_the_readme_and_cli_md_exists() -> None:
    commands = {line.split()[1] for _, code in blocks(README, "bash") for line in code.splitlines()
                if line.startswith("conveyor ")}  # fmt: skip
    documented = {command for command, _, _ in cli_sections()}
    assert commands <= documented, commands - documented
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert all(f"  {command} " in listed for command in documented)


def options_of(command: click.Command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", []) + param.secondary_opts}


def conveyor_command_lines(text: str) -> Iterator[tuple[list[str], str]]:
    """(command path, each token after it) of every ``conveyor ...`` in ``text``'s lines,
    written for a shell, a unit's ExecStart= or a manifest's ["conveyor", "worker", ...]."""
    for line in text.splitlines():
        tokens = re.sub(r"""["'\[\]{},]|\s#.*""", " ", line).split()
        for at, token in enumerate(tokens):
            if token != "conveyor" and not token.endswith("/bin/conveyor") or at + 1 == len(tokens):
                continue  # (a name alone: `job_name: conveyor`)
            command: click.Command = cli
            path: list[str] = []
            rest = tokens[at + 1 :]
            while isinstance(command, click.Group) and rest and rest[0] in command.commands:
                path.append(rest[0])
                command = command.commands[rest.pop(0)]
            yield path, " ".join(rest)


def test_every_command_and_setting_of_deploying_md_exists() -> None:
    text = DEPLOYING_MD.read_text()
    code = "\n".join(
        block for language in ("bash", "ini", "yaml", "dockerfile") for _, block in blocks(DEPLOYING_MD, language)
    )
    checked = 0
    for path, rest in conveyor_command_lines(code):
        command: click.Command = cli
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert path and not isinstance(command, click.Group), f"docs/deploying.md: no such command: conveyor {rest}"
        for flag in re.findall(r"(?<!\S)(--?[a-zA-Z][\w-]*)", rest):
            assert flag.split("=")[0] in options_of(command), f"docs/deploying.md: conveyor {' '.join(path)} {flag}"
            checked += 1
    assert checked > 10
    # options in the prose: those of some conveyor command (or of docker's, named so)
    every_option = set().union(*(options_of(c) for c in cli.commands.values() if not isinstance(c, click.Group)))
    for flag in set(re.findall(r"`(--[a-z][\w-]*)", text)) - {"--init", "--stop-timeout"}:
        assert flag in every_option, f"docs/deploying.md names {flag}: no conveyor command takes it"
    # settings: the variables of the commands' options, and those conveyor reads itself
    source = "".join(path.read_text() for path in (ROOT / "src").rglob("*.py"))
    read = {param.envvar for c in cli.commands.values() if not isinstance(c, click.Group) for param in c.params}
    unknown = {name for name in re.findall(r"CONVEYOR_[A-Z_]+", text) if name not in read and f'"{name}"' not in source}
    assert not unknown, f"docs/deploying.md names variables conveyor does not read: {unknown}"


def rest_answer(path: str, doc: Path = REST_MD) -> str:
    """The answer ``doc``'s endpoint tables give for ``path`` (a row's first cell starts with it)."""
    for row in doc.read_text().splitlines():
        if row.startswith(f"| `{path}"):
            answer = row.split(" | ")[1]
            return answer.split("→", 1)[-1]  # a batch row gives the body, then the answer
    raise AssertionError(f"no row for {path} in {doc.name}")


Sketch = dict[str, Any]  # field -> None, a Sketch of its object, or [Sketch] for a list of objects


def sketch(text: str) -> Sketch:
    """The fields of the first ``{a, b: {c}, d: [{e}], f: "x"}`` in ``text``."""
    tokens = re.findall(r'"[^"]*"|[\w?.]+|[{}\[\]:,]', text[text.index("{") :])
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def value() -> Any:
        if tokens[position] == "{":
            return obj()
        if tokens[position] == "[":
            take()
            inner = obj() if tokens[position] == "{" else None
            while take() != "]":
                pass
            return None if inner is None else [inner]
        take()  # a literal: "cancelled", true, 202
        return None

    def obj() -> Sketch:
        fields: Sketch = {}
        take()  # {
        while tokens[position] != "}":
            name = take().rstrip("?")
            if tokens[position] == ":":
                take()
                fields[name] = value()
            elif tokens[position] == "{":  # `input {args, kwargs}`
                fields[name] = obj()
            else:
                fields[name] = None
            if tokens[position] == ",":
                take()
        take()  # }
        return fields

    return obj()


def assert_shape(where: str, documented: Sketch, answer: Any) -> None:
    assert isinstance(answer, dict), f"{where}: {answer!r} is not an object"
    assert set(answer) == set(documented), f"{where}: docs/rest.md says {sorted(documented)}, got {sorted(answer)}"
    for name, inner in documented.items():
        if isinstance(inner, dict) and answer[name] is not None:
            assert_shape(f"{where}.{name}", inner, answer[name])
        elif isinstance(inner, list):
            for item in answer[name]:
                assert_shape(f"{where}.{name}[]", inner[0], item)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API (open: no keys) on a fresh SQLite file, with one registered worker and one
    periodic job published."""
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'api.db'}")
    now = time.time()
    backend.workers_register(WorkerRecord("w1", "host", 1, ("default",), 1, "idle", (), now, now))
    backend.cron_publish(
        [CronEntryRecord("report", "cron", "0 9 * * *", "UTC", "default", "add", "s1", "host", 1, now)]
    )
    app = create_app(backend, Settings())
    async with httpx.AsyncClient(transport=ASGITransport(app), base_url="http://conveyor") as client:
        yield client
    app.state.conveyor.hub.stop()
    backend.close()


@pytest.mark.anyio
async def test_rest_md_gives_the_fields_of_every_answer(http: httpx.AsyncClient) -> None:
    async def call(method: str, path: str, **kwargs: Any) -> Any:
        response = await http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def check(row: str, answer: Any, documented: Sketch | None = None) -> None:
        assert_shape(row, documented or sketch(rest_answer(row)), answer)

    job_type = JOB_TYPE
    submitted = await call("POST", "/api/v1/jobs", json={"job_type": job_type, "args": ["doc"], "delay_seconds": 600})
    check("POST /jobs", submitted)
    job = f"/api/v1/jobs/{submitted['job_id']}"
    full = sketch("{" + rest_answer("GET /jobs/{id}").split("the job: `")[1].split("`, and `traceback`")[0] + "}")
    check("GET /jobs/{id}", await call("GET", job), {**full, "traceback": None})
    check("GET /jobs?", await call("GET", "/api/v1/jobs"), {**sketch(rest_answer("GET /jobs?")), "data": [full]})
    summary = re.search(r"A summary has the job's `([^`]*)`", REST_MD.read_text().replace("\n", " "))
    assert summary is not None
    listing = {**sketch(rest_answer("GET /jobs?")), "data": [sketch("{" + summary.group(1) + "}")]}
    check("GET /jobs?view=summary", await call("GET", "/api/v1/jobs?view=summary"), listing)
    status = sketch(rest_answer("GET /jobs/status/{id}`"))
    assert set(status) == set(sketch(rest_answer("GET /jobs/status/{id}`", README))), "README.md's table differs"
    check("GET /jobs/status/{id}", await call("GET", f"/api/v1/jobs/status/{submitted['job_id']}"), status)
    poll = await call("GET", f"/api/v1/jobs/status/{submitted['job_id']}/poll")
    check("GET /jobs/status/{id}/poll", poll, {**status, "changed": None})  # the status view plus `changed`
    check("GET /jobs/{id}/backend", await call("GET", f"{job}/backend"))
    check("GET /jobs/stats", await call("GET", "/api/v1/jobs/stats"))
    check("GET /jobs/queue/stats", await call("GET", "/api/v1/jobs/queue/stats"))
    check("GET /queues", await call("GET", "/api/v1/queues"))
    check("GET /workers", await call("GET", "/api/v1/workers"))
    check("GET /cron", await call("GET", "/api/v1/cron"))
    check("GET /health", await call("GET", "/health"))
    check("POST /jobs/cancel/{id}", await call("POST", f"/api/v1/jobs/cancel/{submitted['job_id']}"))
    check("POST /jobs/restart/{id}", await call("POST", f"/api/v1/jobs/restart/{submitted['job_id']}"))
    check("POST /workers/{name}/shutdown", await call("POST", "/api/v1/workers/w1/shutdown"))
    spec = {"jobs": [{"job_type": job_type, "args": ["doc"]}], "scheduled_start_time": "2030-01-01T09:00:00Z"}
    made = await call("POST", "/api/v1/batches", json=spec)
    check("POST /batches", made)
    batch = f"/api/v1/batches/{made['batch_id']}"
    check("GET /batches?", await call("GET", "/api/v1/batches"))
    check("GET /batches/{id}`", await call("GET", batch))
    check("GET /batches/{id}/backend", await call("GET", f"{batch}/backend"))
    later = {"scheduled_start_time": "2030-02-01T09:00:00Z"}
    detail = sketch(rest_answer("GET /batches/{id}`"))
    check("POST /batches/{id}/reschedule", await call("POST", f"{batch}/reschedule", json=later), detail)
    check("POST /batches/{id}/cancel", await call("POST", f"{batch}/cancel"))


@pytest.mark.anyio
async def test_rest_md_json_examples_are_the_apis_answers(http: httpx.AsyncClient) -> None:
    """The error bodies docs/rest.md shows, as the API gives them."""
    examples = [json.loads(code) for _, code in blocks(REST_MD, "json") if code.startswith('{"error"')]
    by_error = {example["error"]: example for example in examples}
    invalid = [example for example in examples if example["error"] == "ValidationError"]
    assert invalid == [(await http.get(url)).json() for url in ("/api/v1/jobs?view=bogus", "/api/v1/jobs?staus=failed")]
    job_id = (await http.post("/api/v1/jobs", json={"job_type": JOB_TYPE, "args": ["doc"]})).json()["job_id"]
    assert by_error["JobAlreadyCompletedError"].keys() == {"error", "message", "job_id", "current_status"}
    canceled = (await http.post(f"/api/v1/jobs/cancel/{job_id}")).json()
    again = (await http.post(f"/api/v1/jobs/cancel/{job_id}")).json()
    assert canceled["status"] == "cancelled" and again["error"] == "JobAlreadyCancelledError"
    assert set(again) == set(by_error["JobAlreadyCompletedError"])
