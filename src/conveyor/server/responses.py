"""The error responses each route declares in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from conveyor.server.batch_schemas import BatchErrorBody
from conveyor.server.schemas import ErrorBody, JobErrorBody, ValidationErrorBody

_ERRORS: dict[int, tuple[type[ErrorBody], str]] = {
    400: (ValidationErrorBody, "Invalid input: malformed JSON, an unknown job type, a bad cursor"),
    401: (ErrorBody, "Missing or invalid API key"),
    403: (ErrorBody, "The API key is not an admin's"),
    404: (JobErrorBody, "No such job (or another user's)"),
    409: (JobErrorBody, "The job's status does not allow this"),
    413: (ErrorBody, "Request body over the size limit"),
    415: (ErrorBody, "A body that is not sent as JSON (Content-Type: application/json)"),
    422: (ValidationErrorBody, "A field is missing, of the wrong type or out of bounds"),
    429: (ErrorBody, "Past the caller's rate limit: retry after the seconds in the Retry-After header"),
    503: (ErrorBody, "The job store cannot be reached"),
}

COMMON = (401, 422, 429, 503)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these status codes, each with its body model."""
    return {code: {"model": _ERRORS[code][0], "description": _ERRORS[code][1]} for code in codes}


_BATCH_ERRORS = {404: "No such batch (or another user's)", 409: "The batch's status does not allow this"}


def batch_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` as errors() gives them, with the batch's own body for 404 and 409."""
    shared = errors(*(code for code in codes if code not in _BATCH_ERRORS))
    own: dict[int | str, dict[str, Any]] = {
        code: {"model": BatchErrorBody, "description": why} for code, why in _BATCH_ERRORS.items() if code in codes
    }
    return {**shared, **own}
