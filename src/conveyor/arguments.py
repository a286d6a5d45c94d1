"""A job's call arguments: how they are taken (RQ's ``args=``/``kwargs=``), encoded
with a job's serializer, and written out for descriptions and error messages."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.exceptions import InvalidJobError, SerializationError
from conveyor.serializers import Serializer


def call_arguments(args: object, kwargs: object) -> tuple[list[Any], dict[str, Any]]:
    """A call's ``args=`` and ``kwargs=`` as given to ``Job.create``, ``enqueue`` or
    ``prepare_data``: ``args`` that is not a list or tuple is the one positional argument
    (``Job.create(f, "http://nvie.com")``, as RQ's docs write it), never its letters."""
    if args is None:
        positional: list[Any] = []
    elif isinstance(args, list | tuple):
        positional = list(args)
    else:
        positional = [args]
    if kwargs is None:
        return positional, {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise InvalidJobError(f"kwargs must be a mapping with string keys, got {_short(kwargs)}")
    return positional, dict(kwargs)


def call_mismatch(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """Why ``func`` could not be called with these arguments, by its signature: the
    field at fault (``args`` or ``kwargs``) and the reason, or None when they fit or it
    has no signature to read. For the callers that know the function (REST, the CLI):
    a mismatch refused there would otherwise fail in the worker as a TypeError. A
    decorator's wrapper is read as it is, not as the function it wraps, so a wrapper that
    takes more than it wraps is never refused."""
    try:
        signature = inspect.signature(func, follow_wrapped=False)
    except (TypeError, ValueError):  # some builtins and C callables
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        bare = [parameter.replace(annotation=inspect.Parameter.empty) for parameter in signature.parameters.values()]
        reason = f"{exc} (it takes {signature.replace(parameters=bare, return_annotation=inspect.Signature.empty)})"
        try:
            signature.bind_partial(*args)
        except TypeError:
            return "args", reason
        return ("kwargs" if kwargs else "args"), reason
    return None


def check_call(func: Callable[..., Any], name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise InvalidJobError when ``func`` (enqueued as ``name``) cannot take these
    arguments (see call_mismatch)."""
    mismatch = call_mismatch(func, args, kwargs)
    if mismatch is not None:
        raise InvalidJobError(f"the arguments do not fit {name}: {mismatch[1]}")


def encode_arguments(serializer: Serializer, name: str, args: list[Any], kwargs: dict[str, Any]) -> bytes:
    """The payload for a job; names the first argument the serializer cannot encode."""
    try:
        return serializer.dumps([args, kwargs])
    except Exception as whole:
        labelled = [(f"positional argument {i} ({_short(v)})", v) for i, v in enumerate(args)]
        labelled += [(f"keyword argument {k!r} ({_short(v)})", v) for k, v in kwargs.items()]
        for label, value in labelled:
            try:
                serializer.dumps(value)
            except Exception as exc:
                raise SerializationError(f"{label} {unencodable(name, exc)}") from exc
        raise SerializationError(f"the arguments {unencodable(name, whole)}") from whole


def encode_value(serializer: Serializer, name: str, value: Any, what: str) -> bytes:
    """``value`` (a job's meta, say) in the job's serializer; a refusal names ``what``."""
    try:
        return serializer.dumps(value)
    except Exception as exc:
        raise SerializationError(f"{what} {unencodable(name, exc)}") from exc


def unencodable(serializer: str, exc: Exception) -> str:
    """The end of a refusal to encode a value: why, and under JSON what to do instead,
    since the value most often met there (a set, an object) is a beginner's."""
    advice = (
        " (JSON takes str, int, float, bool, None, lists, dicts with str keys, and datetime, date, time,"
        " UUID and Decimal values: convert the value, a set to a list, say; or opt in to"
        " serializer='pickle' for trusted payloads)"
        if serializer == "json"
        else ""
    )
    return f"cannot be encoded by the {serializer} serializer: {exc}{advice}"


def _short(value: Any) -> str:
    text = _repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _repr(value: Any) -> str:
    """``repr``, or a stand-in for a value that has none (an int of 5,000 digits, a list
    nested 100,000 deep): describing an argument must not fail where encoding it did."""
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} without a repr>"


def describe(func: Callable[..., Any] | str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The call written out, ``add(1, y=2)``, shortened past 200 characters, as RQ shows it."""
    name = func if isinstance(func, str) else getattr(func, "__qualname__", repr(func))
    parts = [_repr(a) for a in args] + [f"{k}={_repr(v)}" for k, v in kwargs.items()]
    text = f"{name}({', '.join(parts)})"
    return text if len(text) <= 200 else text[:197] + "..."
