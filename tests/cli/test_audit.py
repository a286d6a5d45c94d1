"""``conveyor audit``, and the commands that record their actions in the audit log under
the user and host that ran them."""

from __future__ import annotations

import getpass
import json
import socket
import time

from conveyor.backends.base import Backend
from conveyor.types import WorkerRecord

from .conftest import Run, put_job

ME = f"{getpass.getuser()}@{socket.gethostname()}"


def test_the_commands_that_act_record_who_ran_them_and_audit_lists_them(run: Run, db: Backend) -> None:
    queued = put_job(db, queue="mail")
    failed = [put_job(db, queue="mail", status="failed", ended_at=time.time(), keep_until=time.time() + 60)
              for _ in range(2)]  # fmt: skip
    running = put_job(db, queue="other", status="started", lease_expires_at=time.time() + 60, worker_name="w")
    now = time.time()
    db.workers_register(WorkerRecord(name="w", hostname="h", pid=1, queues=("mail",), concurrency=1,
                                     started_at=now, last_heartbeat=now))  # fmt: skip
    for args in (
        ("cancel", queued.id), ("stop", running.id), ("requeue", "-q", "mail", "--all"), ("pause", "mail"),
        ("resume", "mail"), ("empty", "mail"), ("shutdown", "w"), ("cleanup",),
    ):  # fmt: skip
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
    entries = json.loads(run("audit", "--json").stdout)["entries"]
    assert {(e["actor"], e["role"], e["via"]) for e in entries} == {(ME, None, "cli")}
    assert [(e["action"], e["target"]) for e in reversed(entries)] == [
        ("job.cancel", queued.id), ("job.stop", running.id), ("job.requeue", "mail"), ("queue.pause", "mail"),
        ("queue.resume", "mail"), ("queue.empty", "mail"), ("worker.shutdown", "w"), ("store.cleanup", ""),
    ]  # fmt: skip
    details = {e["action"]: e["detail"] for e in entries}
    assert details["job.cancel"] == "was queued"
    assert details["job.requeue"].startswith("2 jobs: ") and all(job.id in details["job.requeue"] for job in failed)
    assert details["queue.empty"] == "2 jobs deleted"  # the two requeued
    assert entries[0]["at"].endswith("Z")


def test_audit_pages_with_before_and_says_when_nothing_was_recorded(run: Run, db: Backend) -> None:
    assert run("audit").stdout.strip() == "No actions recorded"
    for queue in ("a", "b", "c"):
        run("pause", queue)
    newest = json.loads(run("audit", "--limit", "2", "--json").stdout)["entries"]
    assert [e["target"] for e in newest] == ["c", "b"]
    older = json.loads(run("audit", "--before", newest[-1]["id"], "--json").stdout)["entries"]
    assert [e["target"] for e in older] == ["a"]
    shown = run("audit").stdout
    assert "queue.pause" in shown and ME in shown and "Audit log (3 actions, newest first)" in shown
