"""Job options: their defaults, the names reserved by enqueue, and their validation.

Reserved names are listed once so they never collide silently with a job function's
own keyword arguments: pass those through ``kwargs={...}`` (as with RQ).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.durations import parse_duration
from conveyor.exceptions import InvalidJobError
from conveyor.ids import is_text

DEFAULT_QUEUE = "default"
DEFAULT_TIMEOUT = 180.0
DEFAULT_RESULT_TTL = 500.0
DEFAULT_FAILURE_TTL = 365 * 24 * 3600.0

RESERVED_ENQUEUE_OPTIONS = frozenset(
    {
        "job_timeout", "timeout", "result_ttl", "ttl", "failure_ttl", "description",
        "depends_on", "job_id", "at_front", "meta", "retry", "priority", "user_id",
        "allow_dependency_failures", "args", "kwargs", "on_success", "on_failure", "unique_key",
        "on_stopped", "pipeline", "repeat", "rate_limit", "webhooks", "unique",
    }
)  # fmt: skip
"""Keyword arguments of ``Queue.enqueue`` that configure the job, not the function (all
that RQ 3 takes for the job, so none reaches a function that RQ would keep from it)."""
_INLINE_OPTIONS = RESERVED_ENQUEUE_OPTIONS - {"args", "kwargs"}

UNSUPPORTED_OPTIONS = {
    "pipeline": "conveyor has no pipelines; enqueue_many stores many jobs in one step",
    "repeat": "run it periodically with conveyor cron, or enqueue the next run from the job (enqueue_in)",
    "rate_limit": "rates are the workers' (counted across all of them): give them limits=Limits(per_job_type_rate="
    "{'myapp.jobs.f': '10/m'}) (conveyor.types.Limits), or conveyor worker --job-type-rate myapp.jobs.f=10/m",
    "webhooks": "call your webhook from on_success/on_failure/on_stopped callbacks",
    "unique": "unique_key='...' returns the live job with that key instead of a second one",
}
"""RQ job options conveyor has no counterpart for: refused when set, so that RQ code
learns it at enqueue (a false value is RQ's default and is dropped)."""


def refuse_ambiguous_options(func: object, kwargs: Mapping[str, Any]) -> None:
    """Refuse an option given inline among ``kwargs`` that the function also names as a
    parameter (``fetch(url, timeout=10)``): RQ takes such a keyword for the job and calls
    the function without it, silently. ``args=``/``kwargs=`` say which is meant."""
    if not kwargs or not callable(func):
        return
    both = sorted((kwargs.keys() & _INLINE_OPTIONS) & _parameter_names(func))
    if both:
        name = getattr(func, "__qualname__", repr(func))
        raise InvalidJobError(
            f"{name}() takes {', '.join(both)}, which enqueue reads as job option(s): pass the "
            f"function's own through kwargs={{...}} (and its other arguments through args=), as in "
            f"q.enqueue(f, args=(...), kwargs={{{both[0]!r}: ...}}, job_timeout=...)"
        )


def refuse_misplaced_options(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse a job option among the keywords ``@job``'s ``delay`` passes to the function
    (as RQ's does) when the function cannot take it: ``add.delay(2, 2, priority=9)``
    would otherwise be stored, and fail in the worker with a TypeError."""
    misplaced = kwargs.keys() & _INLINE_OPTIONS
    if not misplaced or _takes_any_keyword(func):
        return
    misplaced -= _parameter_names(func)
    if misplaced:
        name = getattr(func, "__qualname__", repr(func))
        raise InvalidJobError(
            f"{name}() takes no {', '.join(sorted(misplaced))}: delay() passes its keywords to the "
            f"function (but depends_on, job_id and at_front), as RQ's; give job options to @job(...), "
            f"or enqueue the call: q.enqueue({name}, ..., {sorted(misplaced)[0]}=...)"
        )


def _takes_any_keyword(func: Callable[..., Any]) -> bool:
    """Whether ``func`` takes ``**kwargs`` (cached, as _parameter_names)."""
    try:
        return _cached_takes_any_keyword(func)
    except TypeError:  # unhashable callable
        return _uncached_takes_any_keyword(func)


def _uncached_takes_any_keyword(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


_cached_takes_any_keyword = functools.lru_cache(maxsize=1024)(_uncached_takes_any_keyword)


def _parameter_names(func: Callable[..., Any]) -> frozenset[str]:
    """The names ``func`` takes by keyword (cached: enqueues repeat a few functions)."""
    try:
        return _cached_parameter_names(func)
    except TypeError:  # unhashable callable
        return _uncached_parameter_names(func)


def _uncached_parameter_names(func: Callable[..., Any]) -> frozenset[str]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return frozenset()
    by_keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in parameters if p.kind in by_keyword)


_cached_parameter_names = functools.lru_cache(maxsize=1024)(_uncached_parameter_names)


def validate_at_front(value: object) -> bool:
    """RQ's ``at_front``: True or False (None, as a caller passing RQ's default through
    may, is False); anything else is refused rather than read as true or false."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidJobError(f"at_front must be True or False, got {value!r}")
    return value


def custom_class_problem(option: str, given: object, ours: type) -> str | None:
    """Why RQ's ``job_class``/``queue_class`` cannot be ``given``, if it cannot: conveyor
    builds its own Job and Queue objects, so only those (by class or import path) or
    None, RQ's default, are taken; a class of one's own would be silently unused."""
    paths = (f"{ours.__module__}.{ours.__name__}", f"conveyor.{ours.__name__}")
    if given is None or given is ours or given in paths:
        return None
    return (
        f"{option} {given!r} is not supported: conveyor makes {paths[1]} objects only (your own class "
        f"would go unused); keep what it adds in functions that take a {ours.__name__}"
    )


def split_enqueue_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate ``enqueue(f, *args, **kwargs)`` keywords into job options and the
    function's own keyword arguments (with RQ's explicit ``args``/``kwargs`` escape)."""
    if not kwargs:
        return {}, {}
    options = {key: value for key, value in kwargs.items() if key in RESERVED_ENQUEUE_OPTIONS}
    function_kwargs = {key: value for key, value in kwargs.items() if key not in options}
    return normalize_options(options), function_kwargs


def normalize_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Job options with RQ's aliases resolved; unknown or unsupported ones are errors."""
    if not options:
        return {}
    unknown = set(options) - RESERVED_ENQUEUE_OPTIONS
    if unknown:
        raise InvalidJobError(f"unknown job options: {', '.join(sorted(unknown))}")
    options = dict(options)
    for name, advice in UNSUPPORTED_OPTIONS.items():
        if options.get(name):
            raise InvalidJobError(f"{name} is not supported: {advice} (a function's own {name} goes in kwargs={{...}})")
        options.pop(name, None)
    if "job_timeout" in options:
        options["timeout"] = options.pop("job_timeout")
    return options


def validate_timeout(value: object) -> float | None:
    """The job timeout in seconds; None means no timeout (-1). Zero is refused: a job
    given no time at all would always fail as timed out."""
    return parse_duration(value, "timeout", zero_allowed=False)


def validate_ttl(value: object) -> float | None:
    """The longest a job may wait in its queue; None for no limit (-1). Zero is refused,
    as RQ refuses it: the job could never run."""
    return parse_duration(value, "ttl", zero_allowed=False)


PRIORITY_LIMIT = 2**31 - 1


def validate_priority(value: object) -> int:
    """An int within ±(2**31 - 1): the Redis backend orders priorities in 32 bits."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > PRIORITY_LIMIT:
        raise InvalidJobError(f"priority must be an integer from -{PRIORITY_LIMIT} to {PRIORITY_LIMIT}, got {value!r}")
    return value


POSITION_LIMIT = 2**53
"""Positions and lengths past this are as good as infinite (no store holds that many jobs);
larger ones are cut to it, so that neither SQLite's 64-bit integers nor Redis's overflow."""


def validate_position(value: object, name: str) -> int:
    """A position in a listing (``offset``, ``start``): an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidJobError(f"{name} must be an integer >= 0, got {value!r:.40}")
    return min(value, POSITION_LIMIT)


def validate_length(value: object, name: str) -> int:
    """How many of a listing (``length``, ``end``): an int, negative for all of it (-1, as RQ)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJobError(f"{name} must be an integer (-1: all), got {value!r:.40}")
    return -1 if value < 0 else min(value, POSITION_LIMIT)


def validate_queue_name(name: object) -> str:
    return _validate_name("queue name", name)


def _validate_name(what: str, name: object) -> str:
    problem = name_problem(name)
    if problem:
        raise InvalidJobError(f"{what} {problem}")
    return name  # type: ignore[return-value]  # a str: name_problem says so


def name_problem(name: object) -> str | None:
    """What keeps ``name`` from being a name (of a queue, a job, a user) as the REST API
    takes them too: 1 to 200 characters of text, no control characters, no spaces at its ends."""
    if not isinstance(name, str) or not name:
        return f"must be a non-empty string, got {name!r}"
    if len(name) > 200:
        return f"must be at most 200 characters, got {len(name)}"
    if name.strip() != name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"{name!r} must not contain spaces at its ends or control characters"
    if not is_text(name):
        return f"{name!r} must be text: it holds a lone surrogate (as Python reads a byte that is not UTF-8)"
    return None


def validate_unique_key(key: object) -> str | None:
    """None, or the key that keeps a second live job from being created (idempotency)."""
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > 500 or not is_text(key):
        raise InvalidJobError(f"unique_key must be a non-empty string of at most 500 characters, got {key!r}")
    return key


def validate_description(description: object) -> str | None:
    """None (the call written out is shown) or text."""
    if description is not None and (not isinstance(description, str) or not is_text(description)):
        raise InvalidJobError(f"description must be a string of text, got {description!r:.80}")
    return description


def validate_user_id(user_id: object) -> str | None:
    """None (no owner) or a name: fair share and per-user limits group jobs by it."""
    if user_id is None:
        return None
    problem = name_problem(user_id)
    if problem:
        raise InvalidJobError(
            f"user_id {problem} (user_id is a job option, the job's owner for per-user limits; "
            "a function's own user_id goes in kwargs={...})"
        )
    return user_id  # type: ignore[return-value]  # a str: name_problem says so
