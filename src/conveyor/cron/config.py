"""Cron config files: a module whose ``cron.register(...)`` calls list the periodic jobs,
as RQ's ``rq cron cron_config.py`` reads them."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from conveyor.exceptions import InvalidJobError

from .entry import CronJob, cron_job

P = ParamSpec("P")
_registered: list[CronJob] = []
"""What the config being loaded registered so far (load_config takes them)."""
RQ_HINT = "; for an rq cron config, replace `from rq import cron` with `from conveyor import cron`"
"""Added to the error of a config that imports RQ's cron (RQ absent, or its register called)."""


def _keeping(build: Callable[P, CronJob]) -> Callable[P, CronJob]:
    """``build``, whose entry is also kept for the config being loaded."""

    @functools.wraps(build, assigned=("__doc__",))  # its signature (__wrapped__) and doc, under its own name
    def register(*args: P.args, **kwargs: P.kwargs) -> CronJob:
        entry = build(*args, **kwargs)
        refuse_twice(entry, _registered)
        _registered.append(entry)
        return entry

    return register


register = _keeping(cron_job)
"""Register a periodic job in a cron config, as RQ's ``rq.cron.register`` (arguments: see cron_job)."""


def refuse_twice(entry: CronJob, registered: list[CronJob]) -> None:
    """InvalidJobError if an entry of ``registered`` has ``entry``'s name."""
    if any(other.name == entry.name for other in registered):
        raise InvalidJobError(
            f"a cron job named {entry.name!r} is registered twice: give each a name= of its own (the store "
            "records the last tick of each name)"
        )


def load_config(target: str) -> list[CronJob]:
    """The entries a cron config registers: ``target`` is a module name (``app.cron``) or
    a ``.py`` file. A file under the working directory is imported as the module its
    path names (``app/cron.py``: ``app.cron``), so that functions it defines are ones
    workers started there can import; any other by its name, from its own directory.
    Raises InvalidJobError for a config that cannot be imported or registers nothing."""
    _registered.clear()
    try:
        _import(target)
        entries = list(_registered)
    finally:
        _registered.clear()
    if not entries:
        raise InvalidJobError(f"the cron config {target!r} registers no job: call conveyor.cron.register(...) in it"
                              + (RQ_HINT if "rq.cron" in sys.modules else ""))  # fmt: skip
    return entries


def _import(target: str) -> None:
    path = Path(target)
    module_name = _module_of_file(path) if target.endswith(".py") or os.sep in target else target
    sys.modules.pop(module_name, None)  # loaded afresh: its register calls run again
    importlib.invalidate_caches()  # a file written since the last import is seen
    try:
        importlib.import_module(module_name)
    except InvalidJobError as exc:
        line = _register_call(exc)
        if line is None:
            raise
        raise InvalidJobError(f"{line}: {exc}") from exc
    except Exception as exc:  # a missing module, a typo in the config: its message is the clue
        rq = isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "rq"  # RQ absent, or without rq.cron
        raise InvalidJobError(
            f"cannot load the cron config {target!r}: {type(exc).__name__}: {exc}" + (RQ_HINT if rq else "")
        ) from exc


def _register_call(exc: BaseException) -> str | None:
    """Where the register call refused by ``exc`` is ('cron_config.py, line 7'), so that the
    error names the entry among many; None when it was not refused by register."""
    frames = traceback.extract_tb(exc.__traceback__)
    for caller, frame in itertools.pairwise(frames):
        if frame.filename == __file__ and frame.name == "register":
            return f"{Path(caller.filename).name}, line {caller.lineno}"
    return None


def _module_of_file(path: Path) -> str:
    """The module name a config file is imported as, its directory put on the import path."""
    if not path.is_file():
        raise InvalidJobError(f"the cron config file {str(path)!r} does not exist")
    path, cwd = path.resolve(), Path.cwd().resolve()
    root = cwd if path.is_relative_to(cwd) else path.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return ".".join(path.relative_to(root).with_suffix("").parts)
