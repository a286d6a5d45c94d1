"""Halt: set once (from a signal handler too), watched through a pipe or by actions."""

from __future__ import annotations

import logging
import os
import select
import threading

import pytest

from conveyor.halt import Halt


def readable(halt: Halt) -> bool:
    poll = select.poll()
    poll.register(halt, select.POLLIN)
    return bool(poll.poll(0))


def test_a_halt_is_readable_once_set_and_stays_so() -> None:
    halt = Halt()
    try:
        assert not halt.is_set() and not readable(halt)
        halt.set()
        halt.set()  # twice is once
        assert halt.is_set() and readable(halt) and readable(halt)
    finally:
        halt.close()


def test_actions_run_on_the_halts_thread_once_set_and_once_per_name() -> None:
    halt = Halt()
    calls: list[str] = []
    done = threading.Event()
    try:
        halt.when_set("a", lambda: calls.append(threading.current_thread().name))
        halt.when_set("a", lambda: calls.append("again"))  # the same name: already there
        halt.when_set("b", done.set)
        assert calls == []
        halt.set()
        assert done.wait(20)
        assert calls == ["conveyor-halt"]
    finally:
        halt.close()


def test_an_action_registered_after_the_set_still_runs() -> None:
    halt = Halt()
    done = threading.Event()
    try:
        halt.set()
        halt.when_set("late", done.set)
        assert done.wait(20)
    finally:
        halt.close()


def test_a_failing_action_is_logged_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    halt = Halt()
    done = threading.Event()

    def fail() -> None:
        raise ConnectionError("the store went away")

    try:
        with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
            halt.when_set("fails", fail)
            halt.when_set("then", done.set)
            halt.set()
            assert done.wait(20), "the next action runs all the same"
    finally:
        halt.close()
    (record,) = [r for r in caplog.records if "the store went away" in r.getMessage()]
    assert record.exc_info is None


def test_a_halt_closed_unset_runs_nothing() -> None:
    halt = Halt()
    calls: list[str] = []
    halt.when_set("a", lambda: calls.append("ran"))
    watcher = halt._watcher
    halt.close()
    assert watcher is not None
    watcher.join(20)
    assert not watcher.is_alive() and calls == []


def test_a_forked_child_cannot_set_its_parents_halt() -> None:
    """A job that forks (multiprocessing) leaves children holding the worker's signal
    handler and pipe: a SIGTERM to one of them must not end the worker's waits."""
    halt = Halt()
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover (the child)
            halt.set()
            halt.close()
            os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not halt.is_set() and not readable(halt)
    finally:
        halt.close()


def test_a_wait_ends_when_the_halt_is_set_from_another_thread() -> None:
    halt = Halt()
    try:
        threading.Timer(0.05, halt.set).start()
        halt.wait(600)  # the test would hang for ten minutes if the set did not end it
        assert halt.is_set()
        halt.wait(600)  # set: returns at once
    finally:
        halt.close()
