"""JSON values the API can send back: nesting within MAX_DEPTH, no lone surrogates, no NaN.

JSON lets a body carry a lone UTF-16 surrogate (``"\\ud800"``) and nesting as deep as
the parser allows. Python keeps both, but the response encoder refuses them (it stops
at 255 levels, envelope included), so one job holding such a value would turn every
page showing it into a 500. Submissions are refused with the field named
(``problem``); values stored another way, by the library or as a job's result, are
shown as stored when the encoder takes them and else repaired (``shown``): a lone
surrogate becomes U+FFFD, what lies deeper than MAX_DEPTH becomes TOO_DEEP. Both first
look at the encoded text, so the usual value costs two substring counts and a regex
scan, not a walk.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic_core

_ENVELOPE_LEVELS = 10
"""Levels a response puts around a stored value (a page, a job, its input, its args), with some to spare."""
MAX_DEPTH = 100
"""Deepest nesting of arrays and objects in one value (arguments, meta, a result)."""
TOO_DEEP = f"(nested deeper than {MAX_DEPTH} levels: not shown)"

_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def problem(value: Any) -> str | None:
    """Why the API could not send ``value`` back, or None when it can."""
    try:
        text = json.dumps(value, allow_nan=False)  # ASCII: any surrogate shows as an escape, paired or not
    except RecursionError:
        text = "[" * (MAX_DEPTH + 1)
    except ValueError:  # a NaN or an infinity, which JSON has no way to write
        return "contains NaN or an infinity, which JSON cannot carry"
    if not _suspect(text, text.count("[") + text.count("{")):
        return None
    if _deeper_than(value, MAX_DEPTH):
        return f"nests arrays or objects deeper than {MAX_DEPTH} levels"
    if _has_lone_surrogate(value):
        return "contains a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), which is not text"
    return None


def decode(data: bytes) -> Any:
    """Stored JSON, ready for a response: as stored whenever the response encoder takes it
    (tried in C, inside as many levels as a response wraps it in), else repaired."""
    value = json.loads(data)
    if not _suspect(data.decode("ascii", "replace"), data.count(b"[") + data.count(b"{")):
        return value
    wrapped = value
    for _ in range(_ENVELOPE_LEVELS):
        wrapped = [wrapped]
    try:
        pydantic_core.to_json(wrapped)
    except pydantic_core.PydanticSerializationError:
        return shown(value)
    return value


def shown(value: Any, depth: int = 0) -> Any:
    """``value`` with lone surrogates replaced and what lies too deep cut off."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, list):
        return [shown(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {shown(key): shown(item, depth + 1) for key, item in value.items()}
    return value


def _suspect(text: str, brackets: int) -> bool:
    return brackets > MAX_DEPTH or _ESCAPED_SURROGATE.search(text) is not None


def _deeper_than(value: Any, levels: int) -> bool:
    if not isinstance(value, list | dict):
        return False
    if levels == 0:
        return True
    items = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(item, levels - 1) for item in items)


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a string in ``value`` (no deeper than MAX_DEPTH) holds a lone surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(key) or _has_lone_surrogate(item) for key, item in value.items())
    return False
