"""Serializers turn job arguments, results and meta into bytes and back.

JSON is the default: safe to read from storage, and readable in the dashboard and over
REST. Pickle is an explicit opt-in for trusted, Python-only payloads: unpickling data
from storage runs code chosen by whoever can write to that storage.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from conveyor.exceptions import SerializationError


class Serializer(Protocol):
    """Anything with ``dumps`` and ``loads``, as in RQ."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


def typed_form(value: Any) -> dict[str, str]:
    """The values jobs often carry that JSON has no type for, as Celery's JSON (kombu)
    writes them: ``{"__type__": "datetime", "__value__": "2030-01-01T09:00:00+00:00"}``.
    (A subclass, a pandas Timestamp say, comes back as its base type.)"""
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"__type__": "datetime", "__value__": value.isoformat()}
    if isinstance(value, date):
        return {"__type__": "date", "__value__": value.isoformat()}
    if isinstance(value, time):
        return {"__type__": "time", "__value__": value.isoformat()}
    if isinstance(value, UUID):
        return {"__type__": "uuid", "__value__": str(value)}
    if isinstance(value, Decimal):
        return {"__type__": "decimal", "__value__": str(value)}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "uuid": UUID,
    "decimal": Decimal,
}


def _untyped(obj: dict[str, Any]) -> Any:
    """A typed value back; any other dict (a user's own with a ``__type__`` key, or a
    value that does not parse) stays as it is."""
    kind, text = obj.get("__type__"), obj.get("__value__")
    if len(obj) == 2 and isinstance(kind, str) and isinstance(text, str) and kind in _FROM_TEXT:
        try:
            return _FROM_TEXT[kind](text)
        except (ValueError, ArithmeticError):  # (decimal's InvalidOperation is an ArithmeticError)
            pass
    return obj


_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=typed_form)


class JSONSerializer:
    """Compact JSON; tuples come back as lists. datetime, date, time, UUID and Decimal
    values round-trip as typed objects (see ``typed_form``)."""

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
            data = data.decode("utf-8", "surrogatepass")  # type: ignore[assignment]
        if (b'"__type__"' if isinstance(data, bytes) else '"__type__"') in data:  # (a hook per dict costs)
            return json.loads(data, object_hook=_untyped)
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
