"""``conveyor batch``: create, show, list, start, reschedule, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor import Batch, BatchStatus, JobStatus
from conveyor.backends.base import Backend

from .conftest import Run, assert_user_error


def create(run: Run, *args: str) -> dict:
    result = run("batch", "create", "jobfuncs.add", "--each", '[[1, 2], [3, 4], {"x": 5, "y": 6}]', "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_create_show_and_list(run: Run, db: Backend) -> None:
    made = create(run, "--name", "sums", "--on-complete", "jobfuncs.echo")
    assert (made["status"], made["total"], made["name"], made["counts"]) == ("running", 3, "sums", {"queued": 3})
    shown = json.loads(run("batch", "show", made["batch_id"], "--json").stdout)
    assert shown["batch_id"] == made["batch_id"] and shown["progress"] == 0.0
    assert made["batch_id"] in run("batch", "show", made["batch_id"]).stdout
    listed = json.loads(run("batch", "list", "--json").stdout)["batches"]
    assert [b["batch_id"] for b in listed] == [made["batch_id"]]
    table = run("batch", "list").stdout
    assert "sums" in table and made["batch_id"] in table  # whole ids (80 columns here), to copy


def test_a_scheduled_batch_is_started_rescheduled_or_canceled(run: Run, db: Backend) -> None:
    held = create(run, "--start", "2031-01-01T09:00:00Z")
    assert (held["status"], held["scheduled_start_time"]) == ("scheduled", "2031-01-01T09:00:00.000Z")
    moved = run("batch", "reschedule", held["batch_id"], "--at", "2031-01-02T09:00:00Z")
    assert moved.exit_code == 0 and "2031-01-02T09:00:00.000Z" in moved.stdout
    assert run("batch", "start", held["batch_id"]).exit_code == 0
    assert Batch.fetch(held["batch_id"], connection=db).counts == {JobStatus.QUEUED: 3}
    canceled = json.loads(run("batch", "cancel", held["batch_id"], "--json").stdout)
    assert (canceled["status"], canceled["cancelled_jobs"]) == ("canceled", 3)
    assert Batch.fetch(held["batch_id"], connection=db).status is BatchStatus.CANCELED
    audited = [(e.action, e.target, e.detail) for e in reversed(db.audit_read(None, 10))]
    assert audited == [
        ("batch.reschedule", held["batch_id"], "starts at 2031-01-02T09:00:00.000Z"),
        ("batch.start", held["batch_id"], ""),
        ("batch.cancel", held["batch_id"], "3 jobs canceled"),
    ]


def test_errors_are_one_line(run: Run, db: Backend) -> None:
    assert_user_error(run("batch", "show", "nope"), 1, "Batch nope not found")
    assert_user_error(run("batch", "list", "--before", "nope"), 1, "Batch nope not found")
    made = create(run)
    assert_user_error(run("batch", "reschedule", made["batch_id"], "--at", "2031-01-01T00:00:00Z"), 1,
                      "cannot be rescheduled: it is running")  # fmt: skip
    assert_user_error(run("batch", "create", "jobfuncs.add", "--each", "[]"), 2, "at least one job")
    assert_user_error(run("batch", "create", "jobfuncs.add", "--each", "[1]"), 2, "array of arguments")
    assert_user_error(
        run("batch", "create", "jobfuncs.add", "--each", ""), 2, "Invalid value for '--each': empty, not JSON"
    )
    assert_user_error(run("batch", "create", "no.such.func", "--each", "[[1]]"), 2, "no.such")
    assert_user_error(run("batch", "create", "jobfuncs.echo", "--each", "[[1], [2]]", "--max-jobs", "1"), 2,
                      "at most 1 jobs")  # fmt: skip
    assert_user_error(run("batch", "create", "jobfuncs.add", "--each", '[[1, 2], {"x": 1}]'), 2,
                      "do not fit jobfuncs.add (item 1 of --each): missing a required argument: 'y'")  # fmt: skip


def test_a_callback_that_cannot_take_the_batch_id_creates_nothing(run: Run, db: Backend) -> None:
    """add(x, y) as --on-failure was accepted, to fail in the worker once every job ended."""
    for flag in ("--on-complete", "--on-failure"):
        assert_user_error(run("batch", "create", "jobfuncs.echo", "--each", "[[1]]", flag, "jobfuncs.add"), 2,
                          f"do not fit {flag} jobfuncs.add (called with the batch id): missing a required "
                          "argument: 'y'")  # fmt: skip
    assert db.counts() == {} and db.batches_list(None, None, 10) == []


def test_the_config_file_reaches_the_batch_commands(
    run: Run, db: Backend, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = create(run), create(run)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # where a ./conveyor.db would be made
    config = tmp_path / "conveyor.toml"
    config.write_text(f'url = "{db_url}"\n[batch.list]\nlimit = 1\n')
    listed = run("--config", str(config), "batch", "list", "--json", url=None)
    assert listed.exit_code == 0, listed.stderr
    assert [b["batch_id"] for b in json.loads(listed.stdout)["batches"]] == [second["batch_id"]]
    config.write_text(f'[batch]\nurl = "{db_url}"\n')  # the group's table, for each of its commands
    shown = run("--config", str(config), "batch", "show", first["batch_id"], "--json", url=None)
    assert json.loads(shown.stdout)["batch_id"] == first["batch_id"]
    for text, fragment in (("[batch.list]\nname = 'x'\n", "'name' is not a setting of [batch.list]"),
                           ("[batch.lst]\nlimit = 1\n", "[batch.lst] is not a command")):  # fmt: skip
        config.write_text(text)
        assert_user_error(run("--config", str(config), "batch", "list", url=None), 2, fragment)
    assert not (tmp_path / "elsewhere" / "conveyor.db").exists()
