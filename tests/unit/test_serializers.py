"""The JSON serializer writes as json.dumps does, and reads stored bytes exactly as json.loads
does, whatever their encoding."""

from __future__ import annotations

import json
import threading
from typing import Any

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
