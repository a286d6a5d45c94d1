"""``conveyor shutdown``: asking registered workers to stop, and its errors."""

from __future__ import annotations

import json

from conveyor.backends.base import Backend
from conveyor.types import HeartbeatReply, WorkerRecord

from .conftest import Run, assert_user_error


def register(db: Backend, name: str, queues: tuple[str, ...] = ("default",)) -> None:
    db.workers_register(WorkerRecord(name=name, hostname="host", pid=1, queues=queues, concurrency=1))


def asked(db: Backend) -> list[str]:
    return [w.name for w in db.workers_list() if w.shutdown_requested]


def test_shutdown_named_workers(run: Run, db: Backend) -> None:
    for name in ("a", "b", "c"):
        register(db, name)
    result = run("shutdown", "a", "c", "a")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Asked 2 workers to shut down: a, c"
    assert asked(db) == ["a", "c"]
    assert db.workers_heartbeat("a", 1.0, "idle", [], 0) is HeartbeatReply.SHUTDOWN_REQUESTED


def test_an_unknown_name_asks_no_worker(run: Run, db: Backend) -> None:
    register(db, "a")
    assert_user_error(run("shutdown", "a", "ghost"), 1, "not registered: ghost")
    assert asked(db) == []


def test_shutdown_all_or_those_of_a_queue(run: Run, db: Backend) -> None:
    register(db, "mail", ("mail",))
    register(db, "both", ("default", "mail"))
    register(db, "other", ("default",))
    result = run("shutdown", "--all", "-q", "mail", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"shutdown_requested": ["both", "mail"]}
    assert run("shutdown", "--all").stdout.strip() == "Asked 3 workers to shut down: both, mail, other"
    assert asked(db) == ["both", "mail", "other"]


def test_names_and_all_go_alone(run: Run) -> None:
    assert_user_error(run("shutdown"), 2, "give worker names or --all")
    assert_user_error(run("shutdown", "a", "--all"), 2, "give worker names or --all")
    assert_user_error(run("shutdown", "a", "-q", "mail"), 2, "--queue goes with --all")
