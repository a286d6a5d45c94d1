"""Serializers turn job arguments, results and meta into bytes and back.

JSON is the default: safe to read from storage, and readable in the dashboard and over
REST. Pickle is an explicit opt-in for trusted, Python-only payloads: unpickling data
from storage runs code chosen by whoever can write to that storage.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol

from conveyor.exceptions import SerializationError


class Serializer(Protocol):
    """Anything with ``dumps`` and ``loads``, as in RQ."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class JSONSerializer:
    """Compact JSON; tuples come back as lists."""

    name = "json"

    @staticmethod
    def dumps(value: Any) -> bytes:
        return _JSON_ENCODER.encode(value).encode()

    @staticmethod
    def loads(data: bytes) -> Any:
        # json.loads of bytes first works out their encoding, in Python, for every job's
        # arguments: bytes that begin with an ASCII character not followed by a NUL are
        # UTF-8 to it (no BOM, no UTF-16/32), so those are decoded here the way it would
        if isinstance(data, bytes) and b"\0" < data[:1] < b"\x80" and data[1:2] != b"\0":
            return json.loads(data.decode("utf-8", "surrogatepass"))
        return json.loads(data)


class PickleSerializer:
    """Python's pickle, highest protocol. Only for payloads you trust."""

    name = "pickle"

    @staticmethod
    def dumps(value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - opt-in, documented as trusted-only


_BY_NAME: dict[str, Serializer] = {"json": JSONSerializer(), "pickle": PickleSerializer()}


def resolve_serializer(serializer: str | Serializer | type | None) -> tuple[str, Serializer]:
    """The stored name and the instance for what a caller passed as ``serializer``.

    Backends store only the name, so a worker knows how to read each job; custom
    serializers are therefore not accepted (they would not be found by name).
    """
    if serializer is None:
        return "json", _BY_NAME["json"]
    if isinstance(serializer, str):
        try:
            return serializer, _BY_NAME[serializer]
        except KeyError:
            known = ", ".join(sorted(_BY_NAME))
            raise SerializationError(f"Unknown serializer {serializer!r}; known serializers: {known}") from None
    name = getattr(serializer, "name", None)
    if isinstance(name, str) and name in _BY_NAME:
        return name, _BY_NAME[name]
    raise SerializationError(f"Serializer {serializer!r} is not supported; use 'json' (default) or 'pickle'")


def serializer_named(name: str) -> Serializer:
    """The serializer a stored job names."""
    return resolve_serializer(name)[1]
