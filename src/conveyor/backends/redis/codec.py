"""JobRecord <-> Redis hash fields.

A field holding its default is not stored (absent means the default), so a typical job
is a hash of a handful of fields: less to send at enqueue, to store, and to read back
at each claim. The few fields whose default is not None store None as ''. Bools are
'1'/'0'; tuples are JSON lists.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from conveyor.exceptions import BackendError
from conveyor.status import JobStatus
from conveyor.types import JobRecord, JobSummaryRecord, WorkerRecord

_FIELDS = dataclasses.fields(JobRecord)
_BYTES = {"payload", "meta", "metrics", "result"}
_TYPES = {field.name: str(field.type) for field in _FIELDS}
_NONE_AS_EMPTY = {
    field.name for field in _FIELDS if _TYPES[field.name].endswith("| None") and field.default is not None
}
"""Fields whose None must be stored, since their absence means a default that is not None."""

_Decoded = TypeVar("_Decoded", JobRecord, JobSummaryRecord)

_STATUSES = {status.value.encode(): status for status in JobStatus}
WORKER_TIMES = ("started_at", "last_heartbeat")
"""Worker registration fields stored as strings, so the heartbeat function keeps every digit."""
_WORKER_FIELDS = frozenset(field.name for field in dataclasses.fields(WorkerRecord))


def decode_worker(data: bytes) -> WorkerRecord:
    """A worker registration (JSON); fields a later version adds are left out, so that its
    workers show too. Raises ValueError (or TypeError, KeyError) for one conveyor did not write."""
    fields = {name: value for name, value in json.loads(data).items() if name in _WORKER_FIELDS}
    fields["queues"] = tuple(fields["queues"])
    for name in WORKER_TIMES:
        fields[name] = float(fields[name])
    if "working_time" in fields:  # cjson writes a whole float as an int
        fields["working_time"] = float(fields["working_time"])
    fields["current_job_ids"] = tuple(fields["current_job_ids"] or ())
    return WorkerRecord(**fields)


def _tuple(raw: bytes) -> tuple[Any, ...]:
    return () if raw == b"[]" else tuple(json.loads(raw))


_time = functools.lru_cache(maxsize=1024)(float)
"""A stored time (or other float), read: the jobs of one claim share their lease, start
and heartbeat times, and a lookup costs a fraction of reading the digits again."""


def _float_or_none(raw: bytes) -> float | None:
    return float(raw) if raw else None


def _decoder(name: str) -> Callable[[bytes], Any] | None:
    """How to read a field back (None: the bytes as they are). C callables where possible:
    a worker decodes every field of every job it claims."""
    kind = _TYPES[name]
    if name in _BYTES:
        return None
    if name in _NONE_AS_EMPTY:
        return _float_or_none
    if name == "status":
        return _STATUSES.__getitem__
    if kind.startswith("tuple"):
        return _tuple
    if kind.startswith("bool"):
        return b"1".__eq__
    if kind.startswith("int"):
        return int
    if kind.startswith("float"):
        return _time
    return bytes.decode


_DECODERS = {name.encode(): (name, _decoder(name)) for name in _TYPES}

_STORED = tuple(field for field in _FIELDS if field.name != "status")
"""What encode sends; the enqueue script writes the status itself."""
_NAMES = tuple(field.name for field in _STORED)
_DEFAULTS = tuple(None if field.default is dataclasses.MISSING else field.default for field in _STORED)
_VALUES = operator.attrgetter(*_NAMES)
_INDEXES = range(len(_NAMES))


def _json_list(value: tuple[Any, ...]) -> str:
    return json.dumps(list(value))


def _flag(value: bool) -> str:
    return "1" if value else "0"


_CONVERT: tuple[Callable[[Any], Any] | None, ...] = tuple(
    _json_list if _TYPES[name].startswith("tuple") else _flag if _TYPES[name].startswith("bool") else None
    for name in _NAMES
)
"""The fields redis-py cannot send as they are; strings, bytes, ints and floats it can."""


def encode(record: JobRecord) -> list[Any]:
    """Field/value pairs for the fields that differ from their default, status aside.

    Enqueue calls this for every job, so the comparison with the defaults runs in C
    (map, compress); only the handful of fields that differ are visited in Python. A
    None that differs from its default is one of the fields stored as ''.
    """
    values = _VALUES(record)
    pairs: list[Any] = []
    for index in itertools.compress(_INDEXES, map(operator.ne, values, _DEFAULTS)):
        value, convert = values[index], _CONVERT[index]
        pairs += (_NAMES[index], "" if value is None else value if convert is None else convert(value))
    return pairs


class UnreadableRecord(BackendError):
    """A job hash holding a value conveyor did not write (a hand edit, a bad restore)."""

    def __init__(self, fields: Mapping[bytes, bytes], problem: str) -> None:
        self.job_id = fields.get(b"id", b"").decode(errors="replace")
        self.lease_token = fields.get(b"lease_token", b"").decode(errors="replace")
        super().__init__(f"the record of job {self.job_id!r} cannot be read: {problem}")


_Shape = tuple[tuple[str, ...], tuple[Callable[[bytes], Any], ...], tuple[bool, ...] | None]
_SHAPES: dict[tuple[bytes, ...], _Shape] = {}
"""Per list of stored field names: the record's names, how to read each value, and which
of the stored fields they are (None: all; others, like ``qmember``, are the scripts'
alone). Jobs enqueued alike are stored alike, so a claim's records share a handful of
shapes."""
MAX_SHAPES = 256


def _shape(names: tuple[bytes, ...]) -> _Shape:
    known = [_DECODERS.get(name) for name in names]
    kept = [entry for entry in known if entry is not None]
    return (
        tuple(name for name, _ in kept),
        tuple(bytes if read is None else read for _, read in kept),
        None if len(kept) == len(known) else tuple(entry is not None for entry in known),
    )


def decode(fields: Mapping[bytes, bytes] | list[bytes]) -> JobRecord:
    """A record from HGETALL (a mapping) or a script's flat field/value list (where a
    field given twice takes its later value). Raises UnreadableRecord for a field
    conveyor cannot read.

    A worker decodes every job it claims: the readers of each list of field names are
    found once (_SHAPES) and applied in C (map); a record that fails that way (a value
    conveyor cannot read, a field missing) goes the long way, which says what is wrong."""
    if isinstance(fields, list):
        names, raws = tuple(fields[::2]), fields[1::2]
    else:
        names, raws = tuple(fields), list(fields.values())
    try:
        shape = _SHAPES[names]
    except KeyError:
        if len(_SHAPES) >= MAX_SHAPES:
            _SHAPES.clear()
        shape = _SHAPES[names] = _shape(names)
    record_names, readers, stored = shape
    if len(names) == len(raws):
        kept = raws if stored is None else itertools.compress(raws, stored)
        try:  # (a name given twice: the dict keeps its later value)
            return JobRecord(**dict(zip(record_names, map(operator.call, readers, kept), strict=True)))
        except (ValueError, TypeError, KeyError):
            pass  # the long way names the field at fault
    return _decode_slowly(fields)


def _decode_slowly(fields: Mapping[bytes, bytes] | list[bytes]) -> JobRecord:
    """decode, one field at a time, naming the field it cannot read."""
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    return _build(JobRecord, fields)


SUMMARY_FIELDS = tuple(field.name for field in dataclasses.fields(JobSummaryRecord) if field.name != "exc_info")
"""The fields the summaries function reads as they are (the id first); it adds exc_info,
of a long one its end."""


def decode_summary(values: list[bytes | None]) -> JobSummaryRecord:
    """A summary from the summaries function's values (SUMMARY_FIELDS, then exc_info); an
    absent field holds its default, as in a record. Raises UnreadableRecord as decode."""
    names = (*SUMMARY_FIELDS, "exc_info")
    return _build(
        JobSummaryRecord, {name.encode(): raw for name, raw in zip(names, values, strict=True) if raw is not None}
    )


def _build(kind: type[_Decoded], fields: Mapping[bytes, bytes]) -> _Decoded:
    """A ``kind`` (JobRecord or JobSummaryRecord) of the fields it has among those stored."""
    values: dict[str, Any] = {}
    for raw_name, raw in fields.items():
        known = _DECODERS.get(raw_name)
        if known is not None:
            name, read = known
            try:
                values[name] = raw if read is None else read(raw)
            except (ValueError, TypeError) as exc:
                raise UnreadableRecord(fields, f"{name} holds {raw[:40]!r} ({exc})") from None
    try:
        return kind(**values)
    except TypeError as exc:  # a required field is missing, or one the kind does not have
        raise UnreadableRecord(fields, str(exc)) from None
