"""The JSON serializer reads stored bytes exactly as json.loads does, whatever their encoding."""

from __future__ import annotations

import json
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
