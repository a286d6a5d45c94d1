"""What Redis's error replies mean to conveyor: an error a conveyor function raised (a
``CONVEYOR <kind>`` reply), a refusal to wait out, or a Redis Cluster node's MOVED."""

from __future__ import annotations

import re

from redis.exceptions import OutOfMemoryError, ResponseError

from conveyor.exceptions import (
    BackendError,
    InvalidBatchOperation,
    InvalidJobOperation,
    JobIdInUseError,
    NoSuchBatchError,
    NoSuchJobError,
)

_MOVED = re.compile(r"MOVED (\d+) \[?([^\s\]]+?)\]?:(\d+)")
"""A Redis Cluster node's answer for a key of a slot another node serves: slot, host, port."""


def _reply(error: ResponseError) -> str:
    """An error reply as Redis sent it: redis-py 6 and later take the code off the errors
    it has a class for (MOVED, TRYAGAIN, CLUSTERDOWN, MASTERDOWN...), redis-py 5 keeps it."""
    text = str(error)
    code = getattr(error, "status_code", None)
    return f"{code} {text}" if code and not text.startswith(code) else text


def moved(error: ResponseError) -> re.Match[str] | None:
    """Where a MOVED answer points, if it is one."""
    return _MOVED.match(_reply(error))


_REFUSED_FOR_NOW = re.compile(r"\b(?:NOREPLICAS|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|UNBLOCKED)\b[^.]*")
"""Redis errors for a command it did not run and will run later: too few replicas in sync
(min-replicas-to-write), a replica without its primary, a cluster down or migrating, a
script running past busy-reply-threshold (an enqueue of a million jobs runs for seconds),
a blocking read ended by its primary's demotion (a Sentinel failover)."""


def refused_for_now(error: ResponseError) -> str | None:
    """The error's code and its reason, if Redis refused the command for now."""
    refusal = None if "CONVEYOR " in str(error) else _REFUSED_FOR_NOW.search(_reply(error))
    return refusal.group(0) if refusal else None


def conveyor_error(exc: ResponseError) -> Exception:
    """The conveyor exception a script reported, or a BackendError."""
    text = str(exc)
    if isinstance(exc, OutOfMemoryError):  # refused before the function ran: nothing written
        return BackendError(
            "Redis is out of memory (used memory is over its maxmemory): it refused this write and stored "
            "nothing. Reads still work; raise maxmemory or free memory (finished jobs go with their result_ttl)."
        )
    marker = text.find("CONVEYOR ")
    if marker < 0 and "WRONGTYPE" in text:
        return BackendError(f"Redis holds a key of another type where conveyor keeps its own ({text}): "
                            "`conveyor doctor` names it")  # fmt: skip
    if marker < 0:
        return BackendError(f"Redis script error: {text}")
    kind, _, rest = text[marker + len("CONVEYOR ") :].partition(" ")
    parts = rest.split("\t")
    if kind == "JobIdInUse":
        return JobIdInUseError(parts[0], parts[1], still_stopping=len(parts) > 2)
    if kind == "NoSuchJob":
        return NoSuchJobError(parts[0])
    if kind == "InvalidOperation":
        return InvalidJobOperation(parts[0], parts[1], parts[2])
    if kind == "NoSuchBatch":
        return NoSuchBatchError(parts[0])
    if kind == "InvalidBatch":
        return InvalidBatchOperation(parts[0], parts[1], parts[2])
    return BackendError(f"Redis script error: {text}")
