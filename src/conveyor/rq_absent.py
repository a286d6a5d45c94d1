"""RQ names conveyor does not have, each with what to use instead.

RQ code ported by swapping ``rq`` for ``conveyor`` should learn at the line that uses
one of these that it is not supported and why, not meet a bare AttributeError or
``cannot import name``. Modules reach the table through ``module_attribute`` (their
``__getattr__``), classes through ``RQOnly`` descriptors.
"""

from __future__ import annotations

from typing import NoReturn

from conveyor.exceptions import NotInConveyorError, NotInConveyorImportError
from conveyor.options import UNSUPPORTED_OPTIONS

_NO_KEYS = "conveyor keeps no RQ keys (a store's layout is its own, and SQLite has no keys)"
_ONE_WORKER = (
    "conveyor has one Worker (SimpleWorker is the same): it serves its queues in the order given, "
    "and Worker(..., pool='processes') runs sync jobs in child processes"
)

MODULE_NAMES: dict[str, dict[str, str]] = {
    "conveyor": {
        "Repeat": UNSUPPORTED_OPTIONS["repeat"],
        "RateLimit": UNSUPPORTED_OPTIONS["rate_limit"],
        "Webhook": UNSUPPORTED_OPTIONS["webhooks"],
        "Group": "conveyor groups jobs in batches (conveyor.Batch.create)",
        "SpawnWorker": _ONE_WORKER,
    },
    "conveyor.worker": {
        name: _ONE_WORKER for name in ("SpawnWorker", "HerokuWorker", "RoundRobinWorker", "RandomWorker")
    },
    "conveyor.command": {
        "send_kill_horse_command": "conveyor runs jobs without work horses: stop a job with send_stop_job_command",
    },
}
"""Per module, the RQ names it lacks and the advice its error gives."""


def module_attribute(module: str, name: str) -> NoReturn:
    """A module's ``__getattr__``: an RQ name it lacks says so, any other name is the
    usual AttributeError."""
    advice = MODULE_NAMES.get(module, {}).get(name)
    if advice is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}", name=name)
    raise NotInConveyorImportError(_refusal(f"{module}.{name}", advice), name=module)


def _refusal(where: str, advice: str) -> str:
    return f"{where} is RQ's and not supported by conveyor: {advice}"


class RQOnly:
    """A class attribute RQ has and conveyor does not: reading it raises
    ``NotInConveyorError`` with ``advice``."""

    def __init__(self, advice: str) -> None:
        self.advice = advice
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> NoReturn:
        cls = owner if owner is not None else type(instance)
        raise NotInConveyorError(_refusal(f"{cls.__name__}.{self.name}", self.advice), name=self.name, obj=instance)


def no_keys(what: str) -> RQOnly:
    """RQ's ``key`` of a job, queue or worker."""
    return RQOnly(f"{_NO_KEYS}; use {what}")
