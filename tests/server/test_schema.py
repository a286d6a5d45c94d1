"""The app against its own OpenAPI schema: generated requests (a bounded, derandomized
number per operation) must never get a 5xx, nor a response the schema does not describe."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import ROOT

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


MAX_EXAMPLES = 30
SETTINGS = settings(
    max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip


def test_the_api_keeps_to_its_schema(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @SETTINGS
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers=ROOT, checks=CHECKS)

        check()


def test_every_error_is_documented_as_json(app: FastAPI) -> None:
    """Errors are JSON on every route, also those whose success is text (/metrics): the
    schema must not claim a 401 of /metrics is text/plain."""
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response.get("content", {})) == ["application/json"], (method, path, status)
