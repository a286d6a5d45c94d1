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

    A subclass (a pandas Timestamp, a pendulum DateTime) is written by its base type's
    own method, as its base type comes back; one that would not come back equal (a
    Timestamp's nanoseconds, pandas' NaT) is refused, as anything else JSON lacks."""
    kind = type(value)
    if kind in _EXACT:
        return {"__type__": _EXACT[kind], "__value__": _TO_TEXT[kind](value)}
    for base, to_text in _TO_TEXT.items():  # datetime before date: a datetime is a date
        if isinstance(value, base):
            text = to_text(value)
            if base in (datetime, date, time) and not _equal(_FROM_TEXT[_EXACT[base]](text), value):
                raise TypeError(
                    f"Object of type {kind.__name__} ({value!r:.60}) would come back as {base.__name__}"
                    f" {text!r}, not equal to it"
                )
            return {"__type__": _EXACT[base], "__value__": text}
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _equal(back: Any, value: Any) -> bool:
    try:
        return bool(back == value)
    except Exception:  # a subclass whose comparison raises
        return False


_EXACT: dict[type, str] = {datetime: "datetime", date: "date", time: "time", UUID: "uuid", Decimal: "decimal"}
_TO_TEXT: dict[type, Callable[[Any], str]] = {
    # the base types' own methods: a subclass's override (pandas' NaT's "NaT", a __str__
    # of one's own) would write text that does not parse, and the job would get the dict
    datetime: datetime.isoformat,
    date: date.isoformat,
    time: time.isoformat,
    UUID: UUID.__str__,
    Decimal: Decimal.__str__,
}


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
    if len(obj) != 2:  # most dicts: the hook runs for every one in the text
        return obj
    kind, text = obj.get("__type__"), obj.get("__value__")
    if isinstance(kind, str) and isinstance(text, str) and kind in _FROM_TEXT:
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
