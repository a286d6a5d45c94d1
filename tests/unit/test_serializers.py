"""The JSON serializer writes as json.dumps does, and reads stored bytes exactly as json.loads
does, whatever their encoding; datetimes, UUIDs and Decimals round-trip as typed objects."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from conveyor.serializers import JSONSerializer

STORED = [
    b"[[],{}]",
    b'[["a",1],{"k":null}]',
    '["\u00e9\u4e2d"]'.encode(),
    b"1",
    b"12",
    b" [1] ",
    b"\xef\xbb\xbf[1]",  # UTF-8 with a BOM
    "[1]".encode("utf-16"),
    "[1]".encode("utf-16-le"),
    "[1]".encode("utf-16-be"),
    "[1]".encode("utf-32-le"),
    "[1]".encode("utf-32-be"),
    b"1\x002\x00",
    b'["\xed\xa0\x80"]',  # a lone surrogate, as surrogatepass writes it
    b"[\xff]",  # not UTF-8
    b"[1",
    b"",
]


def outcome(read: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "value", read(data)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("data", STORED, ids=repr)
def test_json_loads_of_stored_bytes_matches_json_loads(data: bytes) -> None:
    assert outcome(JSONSerializer.loads, data) == outcome(json.loads, data)


def reference_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


circular: list[Any] = [1]
circular.append(circular)
shared = {"k": [1.5, -0.0, 1e300]}
VALUES = [
    [[], {}],
    [[1, "two", None, True, 2.5], {"k": {"nested": ["\u00e9", "\u4e2d", "\ud800"]}}],
    [[shared, shared], {}],  # the same value twice is not circular
    "text",
    1.0000000000000002,
    (1, 2),
    {1: "int key"},
    [float("nan")],
    [float("inf")],
    circular,
    [object()],
    {("tuple", "key"): 1},
]


def written(write: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", write(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("value", VALUES, ids=[f"value{n}" for n in range(len(VALUES))])  # some reprs hold addresses
def test_json_dumps_writes_as_json_dumps(value: Any) -> None:
    assert written(JSONSerializer.dumps, value) == written(reference_dumps, value)


def test_a_value_that_failed_to_encode_encodes_once_mended() -> None:
    """An encoder that raised inside a list may still mark it as being encoded: it is not
    reused, or the list would read as circular."""
    mended: list[Any] = [1]
    mended.append(mended)
    with pytest.raises(ValueError, match="Circular"):
        JSONSerializer.dumps([mended])
    mended.pop()
    broken: list[Any] = [2, object()]
    with pytest.raises(TypeError):
        JSONSerializer.dumps(broken)
    broken.pop()
    assert JSONSerializer.dumps([mended, broken, mended]) == b"[[1],[2],[1]]"


def test_threads_encoding_one_value_at_once_each_get_it_whole() -> None:
    value = [list(range(2_000)), {"k": ["v"] * 2_000}]
    expected, results, start = reference_dumps(value), [], threading.Barrier(4)

    def encode() -> None:
        start.wait(timeout=10)
        results.extend(JSONSerializer.dumps(value) for _ in range(50))

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [expected] * 200


TYPED = [
    datetime(2030, 1, 1, 9, 30, tzinfo=UTC),
    datetime(2030, 1, 1, 9, 30, 1, 5),  # naive
    datetime(2030, 1, 1, 9, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    date(2030, 1, 2),
    time(9, 5, 1, 7),
    time(9, 5, tzinfo=UTC),
    UUID("01234567-89ab-7def-8123-456789abcdef"),
    Decimal("1.50"),
    Decimal("-0"),
    Decimal("NaN"),
    Decimal("1E+30"),
]


@pytest.mark.parametrize("value", TYPED, ids=repr)
def test_datetimes_uuids_and_decimals_come_back_as_they_went(value: Any) -> None:
    data = JSONSerializer.dumps([value, {"nested": [value]}])
    back = JSONSerializer.loads(data)
    assert repr(back) == repr([value, {"nested": [value]}])  # Decimal("1.50") keeps its places, NaN its NaN
    assert json.loads(data)[0]["__type__"] in {"datetime", "date", "time", "uuid", "decimal"}  # Celery's JSON form


def test_an_aware_datetime_comes_back_with_its_offset() -> None:
    paris = datetime(2030, 7, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
    back = JSONSerializer.loads(JSONSerializer.dumps(paris))
    assert back == paris and back.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "stored",
    [
        {"__type__": "datetime", "__value__": "not a time"},
        {"__type__": "decimal", "__value__": "1.5.5"},
        {"__type__": "uuid", "__value__": 5},
        {"__type__": "uuid", "__value__": "01234567-89ab-7def-8123-456789abcdef", "more": 1},
        {"__type__": "unknown", "__value__": "x"},
        {"__type__": "date"},
        {"__type__": ["date"], "__value__": "2030-01-01"},
        {"__value__": "2030-01-01", "other": "date"},
    ],
    ids=repr,
)
def test_a_dict_of_ones_own_that_looks_typed_stays_a_dict(stored: dict[str, Any]) -> None:
    assert JSONSerializer.loads(json.dumps([stored]).encode()) == [stored]


def test_a_subclass_comes_back_as_its_base_type() -> None:
    class Stamp(datetime):
        pass

    back = JSONSerializer.loads(JSONSerializer.dumps(Stamp(2030, 1, 1)))
    assert type(back) is datetime and back == datetime(2030, 1, 1)


class _Shown(datetime):
    """A subclass that writes itself its own way (as pandas' NaT writes "NaT")."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "shown my own way"


class _Day(date):
    def isoformat(self) -> str:
        return "the second of January"


class _Id(UUID):
    def __str__(self) -> str:
        return f"id:{self.hex}"


class _Price(Decimal):
    def __str__(self) -> str:
        return f"${Decimal.__str__(self)}"


@pytest.mark.parametrize(
    ("value", "base"),
    [
        (_Shown(2030, 1, 1, 9, tzinfo=UTC), datetime(2030, 1, 1, 9, tzinfo=UTC)),
        (_Day(2030, 1, 2), date(2030, 1, 2)),
        (_Id("01234567-89ab-7def-8123-456789abcdef"), UUID("01234567-89ab-7def-8123-456789abcdef")),
        (_Price("19.90"), Decimal("19.90")),
    ],
    ids=lambda v: type(v).__name__,
)
def test_a_subclass_writing_itself_its_own_way_still_comes_back_as_its_base_type(value: Any, base: Any) -> None:
    back = JSONSerializer.loads(JSONSerializer.dumps([value]))[0]  # (it came back a dict of its own text)
    assert type(back) is type(base) and repr(back) == repr(base)


class _NotATime(datetime):
    """As pandas' NaT: a datetime subclass equal to nothing, whose fields mean nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = datetime.__hash__


def test_a_subclass_that_would_not_come_back_equal_is_refused_at_encoding() -> None:
    with pytest.raises(TypeError, match="_NotATime .* would come back as datetime"):
        JSONSerializer.dumps([_NotATime(1, 1, 1)])  # (it came back as datetime.min, or a dict)
