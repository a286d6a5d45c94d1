"""JobRecord <-> Redis hash fields. Absent fields are None; bools are '1'/'0'."""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.status import JobStatus
from conveyor.types import JobRecord

_BYTES = {"payload", "meta", "metrics", "result"}
_TYPES = {field.name: field.type for field in dataclasses.fields(JobRecord)}


_STATUSES = {status.value.encode(): status for status in JobStatus}


def _tuple(raw: bytes) -> tuple[Any, ...]:
    return () if raw == b"[]" else tuple(json.loads(raw))


def _decoder(name: str) -> Callable[[bytes], Any] | None:
    """How to read a field back (None: the bytes as they are). C callables where possible:
    a worker decodes every field of every job it claims."""
    kind = str(_TYPES[name])
    if name in _BYTES:
        return None
    if name == "status":
        return _STATUSES.__getitem__
    if kind.startswith("tuple"):
        return _tuple
    if kind.startswith("bool"):
        return b"1".__eq__
    if kind.startswith("int"):
        return int
    if kind.startswith("float"):
        return float
    return bytes.decode


_DECODERS = {name.encode(): (name, _decoder(name)) for name in _TYPES}
_OPTIONAL = {name: None for name, kind in _TYPES.items() if str(kind).endswith("| None")}
"""Fields whose absence from the hash means None (not the dataclass default)."""


_NAMES = tuple(_TYPES)
_VALUES = operator.attrgetter(*_NAMES)


def _json_list(value: tuple[Any, ...]) -> str:
    return json.dumps(list(value)) if value else "[]"


_CONVERT: dict[int, Callable[[Any], Any]] = {
    index: (_json_list if str(_TYPES[name]).startswith("tuple") else lambda flag: "1" if flag else "0")
    for index, name in enumerate(_NAMES)
    if str(_TYPES[name]).startswith(("tuple", "bool"))
}
"""The fields redis-py cannot send as they are; strings, bytes, ints and floats it can."""


def encode(record: JobRecord) -> list[Any]:
    """Field/value pairs for the fields that are set (enqueue calls this for every job)."""
    pairs: list[Any] = []
    for index, value in enumerate(_VALUES(record)):
        if value is not None:
            convert = _CONVERT.get(index)
            pairs += (_NAMES[index], value if convert is None else convert(value))
    return pairs


def decode(fields: Mapping[bytes, bytes] | list[bytes]) -> JobRecord:
    """A record from HGETALL (a mapping) or a script's flat field/value list."""
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    values: dict[str, Any] = dict(_OPTIONAL)
    for raw_name, raw in fields.items():
        known = _DECODERS.get(raw_name)
        if known is not None:
            name, read = known
            values[name] = raw if read is None else read(raw)
    return JobRecord(**values)
