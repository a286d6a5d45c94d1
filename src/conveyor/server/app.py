"""``create_app(backend, settings)``: the REST control plane as a FastAPI app.

The app holds its state on ``app.state.conveyor`` (backend, settings, event hub,
metrics registry); routes are one router per resource; library errors become
``{error, message, ...}`` answers in one handler set (conveyor.server.errors).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Match

from conveyor._version import __version__
from conveyor.backends.base import Backend
from conveyor.connection import DEFAULT_URL, connect
from conveyor.functions import import_modules
from conveyor.server import errors
from conveyor.server.deps import ServerState
from conveyor.server.events import EventHub
from conveyor.server.limits import BodyLimit
from conveyor.server.metrics import HttpMetrics, registry_for
from conveyor.server.rate_limit import RateLimiter
from conveyor.server.routes import batches, jobs, ops
from conveyor.server.settings import Settings

log = logging.getLogger("conveyor.server")

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard" / "static"

DESCRIPTION = """Submit, inspect, follow and steer conveyor jobs.

Authenticate with `Authorization: Bearer <key>`. Errors are always
`{"error": ..., "message": ..., ...context}`. Timestamps are ISO 8601 UTC.
"""


def create_app(backend: Backend | str, settings: Settings | None = None) -> FastAPI:
    """The API app on ``backend`` (a Backend, or a URL the app opens and closes itself).

    ``settings`` default to the environment (Settings.from_env). Modules named in
    ``settings.imports`` are imported here, so their job types can be submitted.
    """
    settings = settings if settings is not None else Settings.from_env()
    import_modules(list(settings.imports))
    owned = isinstance(backend, str)
    store = connect(backend) if isinstance(backend, str) else backend
    hub = EventHub(store, settings.event_wait_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            hub.stop()
            if owned:
                store.close()

    app = FastAPI(title="conveyor", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    limiter = RateLimiter(settings.rate_limit) if settings.rate_limit is not None else None
    app.state.conveyor = ServerState(store, settings, hub, registry_for(store, hub), limiter)
    errors.install(app)
    app.include_router(jobs.router)
    app.include_router(batches.router)
    app.include_router(ops.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics, registry=app.state.conveyor.registry)
    if settings.dashboard:
        # API paths never fall through to the dashboard's files (a HEAD or PUT there would
        # get the file server's 404 or its "Allow: GET, HEAD")
        served = [route for router in (jobs.router, batches.router, ops.router) for route in router.routes]
        app.add_api_route("/api/{path:path}", _fallback(served), methods=_EVERY_METHOD, include_in_schema=False)
        app.mount("/", StaticFiles(directory=DASHBOARD, html=True), name="dashboard")
    if settings.open_access:
        log.warning("no API keys configured: the API is open to anyone who can reach it (set CONVEYOR_API_KEYS)")
    return app


_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _fallback(served: list[BaseRoute]) -> Callable[[Request], Awaitable[None]]:
    """The answer for an API request no route took: 405 naming the methods the ``served``
    routes take at that path, else 404. The path's resource is the first route template
    it matches, as the schema lists them: /jobs/stats is GET only, though a DELETE there
    would reach /jobs/{job_id} (and be a 404, since no job may be called 'stats')."""

    async def no_such_route(request: Request) -> None:
        matching = [
            route
            for route in served
            if isinstance(route, APIRoute) and route.matches(request.scope)[0] is Match.PARTIAL
        ]
        resource = matching[0].path if matching else None
        allowed = sorted({method for route in matching if route.path == resource for method in route.methods or ()})
        if allowed:
            raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404)

    return no_such_route


def app_from_environment() -> FastAPI:
    """The app for ``$CONVEYOR_URL`` and Settings.from_env(): what each process of
    ``conveyor serve --workers N`` builds (uvicorn imports it by name)."""
    return create_app(os.environ.get("CONVEYOR_URL") or DEFAULT_URL, Settings.from_env())
