"""Query parameters a route does not declare are refused with a 422, never ignored.

A misspelt filter (``GET /jobs?staus=failed``) would otherwise filter nothing, and the
caller would take the whole list for the filtered one. Every router builds its routes
with StrictQueryRoute, so an endpoint gets the check without a line of its own. The
check runs before the API key's, as the path's and the method's do (an unknown path is
a 404 to anyone): it is about what the request asks for, not who asks; the names it
lists are in the public OpenAPI schema anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from conveyor.server.errors import ApiError, validation_error
from conveyor.server.responses import errors

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictQueryRoute(APIRoute):
    """An APIRoute that answers 422 to a query parameter none of its parameters (its
    dependencies' included) declares, and says so in its schema."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["responses"] = {**errors(422), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        accepted = declared_query(self)

        async def strict(request: Request) -> Response:
            unknown = [name for name in request.query_params if name not in accepted]
            if unknown:
                raise unknown_parameters(unknown, accepted)
            return await handler(request)

        return strict


def declared_query(route: APIRoute) -> list[str]:
    """The query parameters ``route`` takes, in the order it declares them."""
    names = (field.alias for field in get_flat_params(route.dependant) if isinstance(field.field_info, params.Query))
    return list(dict.fromkeys(names))


def unknown_parameters(unknown: Sequence[str], accepted: Sequence[str]) -> ApiError:
    """The 422 for ``unknown`` names: each one a field, and the names the route takes."""
    plural = "s" if len(unknown) > 1 else ""
    takes = f"accepts {', '.join(accepted)}" if accepted else "accepts no query parameters"
    message = f"Unknown query parameter{plural} {', '.join(map(repr, unknown))}: this endpoint {takes}"
    fields = [
        {"field": name, "location": "query", "message": "Unknown query parameter", "type": "extra_forbidden"}
        for name in unknown
    ]
    return validation_error(message, fields, status_code=422, accepted_parameters=list(accepted))
