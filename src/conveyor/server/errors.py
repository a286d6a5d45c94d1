"""Every error the API answers, as ``{error, message, ...context}``, from one place.

Library exceptions (conveyor.exceptions) map to status codes here, so route handlers
never catch them: an unknown id is a 404, a change the job's status forbids a 409, bad
input a 400/422, a write to a store opened read-only a 403, a store that cannot be reached a 503, never a 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from conveyor.exceptions import (
    BackendError,
    InvalidBatchOperation,
    InvalidJobError,
    InvalidJobOperation,
    JobIdInUseError,
    NoSuchBatchError,
    NoSuchJobError,
    NoSuchWorkerError,
    ReadOnlyStoreError,
    StatusError,
)
from conveyor.status import BATCH_REST_NAMES, REST_NAMES, BatchStatus, JobStatus

log = logging.getLogger("conveyor.server")

RETRY_AFTER_SECONDS = "5"
STORE_DOWN = "The job store cannot be reached; try again shortly"
"""What callers are told of a store error: its details name the store's address, for the
server's log (and its operators), not for every API user."""

_HTTP_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "BackendUnavailable",
}


class ApiError(Exception):
    """An error with its HTTP status, name and context, raised by the server's own code."""

    def __init__(
        self, status_code: int, error: str, message: str, *, headers: dict[str, str] | None = None, **context: Any
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = headers
        self.context = context


def rest_status(status: str) -> str:
    """The REST name of a library status value ('finished' -> 'completed')."""
    try:
        return REST_NAMES[JobStatus(status)]
    except ValueError:
        return status


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, "JobNotFoundError", f"Job {job_id} not found", job_id=job_id)


def validation_error(message: str, fields: list[dict[str, Any]], status_code: int = 400, **context: Any) -> ApiError:
    return ApiError(status_code, "ValidationError", message, fields=fields, **context)


def body(error: str, message: str, **context: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **context}


def _response(status_code: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _response(exc.status_code, body(exc.error, exc.message, **exc.context), exc.headers)


async def _no_such_job(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoSuchJobError)
    error = job_not_found(exc.job_id)
    return _response(404, body(error.error, error.message, **error.context))


async def _no_such_batch(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoSuchBatchError)
    return _response(404, body("BatchNotFoundError", str(exc), batch_id=exc.batch_id))


async def _no_such_worker(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoSuchWorkerError)
    return _response(404, body("WorkerNotFoundError", str(exc), worker=exc.name))


def rest_wording(error: StatusError) -> str:
    """A status error's message with the status as the API names it ('queued' -> 'pending')."""
    return error.reworded(_rest_name(error))


def _rest_name(error: StatusError) -> str:
    if isinstance(error, InvalidBatchOperation):
        try:
            return BATCH_REST_NAMES[BatchStatus(error.status)]
        except ValueError:
            return error.status
    return rest_status(error.status)


async def _status_error(request: Request, exc: Exception) -> JSONResponse:
    """Every StatusError: a 409 naming the current status in the API's words."""
    assert isinstance(exc, StatusError)
    current = _rest_name(exc)
    message = rest_wording(exc)
    if isinstance(exc, InvalidBatchOperation):
        name = "BatchAlreadyStartedError" if current == "running" else f"BatchAlready{current.capitalize()}Error"
        return _response(409, body(name, message, batch_id=exc.batch_id, current_status=current))
    assert isinstance(exc, JobIdInUseError | InvalidJobOperation)
    name = "JobIdInUseError" if isinstance(exc, JobIdInUseError) else "InvalidJobStateError"
    return _response(409, body(name, message, job_id=exc.job_id, current_status=current))


async def _invalid_job(request: Request, exc: Exception) -> JSONResponse:
    return _response(400, body("ValidationError", str(exc), fields=[]))


async def _read_only(request: Request, exc: Exception) -> JSONResponse:
    return _response(403, body("ReadOnlyStore", str(exc)))


async def _backend_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("backend error on %s %s: %s", request.method, request.url.path, exc)  # the details: for operators
    return _response(503, body("BackendUnavailable", STORE_DOWN), {"Retry-After": RETRY_AFTER_SECONDS})


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors, in the API's shape: 400 for a body that is not JSON,
    422 for JSON that does not fit (each offending field named)."""
    assert isinstance(exc, RequestValidationError)
    fields = [_field_error(error) for error in exc.errors()]
    if any(field["type"] == "json_invalid" for field in fields):
        return _response(400, body("ValidationError", "The request body is not valid JSON", fields=fields))
    content_type = request.headers.get("content-type")
    not_json = content_type is None or "json" not in content_type
    if not_json and any(f["field"] == "body" and f["type"] == "model_attributes_type" for f in fields):
        message = f"The body must be JSON sent with Content-Type: application/json (got {content_type or 'none'})"
        return _response(415, body("UnsupportedMediaType", message))
    names = ", ".join(dict.fromkeys(field["field"] for field in fields))
    return _response(422, body("ValidationError", f"Invalid request: {names}", fields=fields))


def _field_error(error: Any) -> dict[str, str]:
    loc = tuple(error.get("loc", ()))
    location = str(loc[0]) if loc and loc[0] in _LOCATIONS else "body"
    path = loc[1:] if loc and loc[0] in _LOCATIONS else loc
    if error.get("type") == "json_invalid":
        path = ()  # its loc holds the offset of the syntax error, not a field
    names = [str(part) for part in path[:1]] + [str(part) for part in path[1:] if _is_field(part)]
    return {
        "field": ".".join(names) or location,
        "location": location,
        "message": str(error.get("msg", "invalid")),
        "type": str(error.get("type", "invalid")),
    }


_LOCATIONS = ("body", "query", "path", "header", "cookie")
_UNION_TAG = re.compile(r"[\[\]-]")


def _is_field(part: object) -> bool:
    """Field names and list indexes below the first part; not the tags pydantic adds for
    union members ('literal[-1]', 'constrained-float'). The first part is always the name
    of the parameter or field, which for a header holds dashes ('last-event-id')."""
    return isinstance(part, int) or not _UNION_TAG.search(str(part))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not decode the body
        message = (
            "The request body could not be read as JSON: it must be UTF-8, with numbers of at most "
            "4,300 digits and arrays or objects nested at most a few hundred levels"
        )
        field = {"field": "body", "location": "body", "message": str(exc.__cause__)[:200], "type": "json_invalid"}
        return _response(400, body("ValidationError", message, fields=[field]))
    name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
    return _response(exc.status_code, body(name, str(exc.detail)), dict(exc.headers or {}) or None)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (the most specific class wins, as Starlette looks
    them up along each exception's MRO)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NoSuchJobError, _no_such_job)
    app.add_exception_handler(StatusError, _status_error)
    app.add_exception_handler(NoSuchBatchError, _no_such_batch)
    app.add_exception_handler(NoSuchWorkerError, _no_such_worker)
    app.add_exception_handler(InvalidJobError, _invalid_job)
    app.add_exception_handler(ReadOnlyStoreError, _read_only)
    app.add_exception_handler(BackendError, _backend_down)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_error)
