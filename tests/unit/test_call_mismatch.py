"""Arguments checked against a job function's signature where it is known (REST, CLI)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from conveyor.arguments import call_mismatch


def extract(document_id: str, depth: int = 1) -> dict[str, Any]:
    return {"document_id": document_id, "depth": depth}


def lenient(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator whose wrapper takes a keyword the function it wraps does not."""

    @functools.wraps(func)
    def wrapper(*args: Any, trace: bool = False, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def test_arguments_that_fit_are_taken() -> None:
    assert call_mismatch(extract, ["doc"], {}) is None
    assert call_mismatch(extract, [], {"document_id": "doc", "depth": 2}) is None


def test_the_reason_names_the_field_and_the_parameters_without_annotations() -> None:
    assert call_mismatch(extract, [], {}) == (
        "args", "missing a required argument: 'document_id' (it takes (document_id, depth=1))",
    )  # fmt: skip
    assert call_mismatch(extract, ["doc"], {"size": 2}) == (
        "kwargs", "got an unexpected keyword argument 'size' (it takes (document_id, depth=1))",
    )  # fmt: skip


def test_a_wrapper_is_read_as_it_is_so_what_it_takes_is_never_refused() -> None:
    assert call_mismatch(lenient(extract), ["doc"], {"trace": True}) is None


def test_a_callable_without_a_signature_to_read_is_taken() -> None:
    assert call_mismatch(dict, [1, 2, 3], {"k": 1}) is None
