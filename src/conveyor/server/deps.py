"""What route handlers receive: the app's state and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from conveyor.backends.base import Backend
from conveyor.server.auth import OPEN_ACCESS, Principal, authenticate
from conveyor.server.errors import ApiError
from conveyor.server.events import EventHub
from conveyor.server.host import HostLoad
from conveyor.server.rate_limit import RateLimiter, retry_after
from conveyor.server.settings import Settings


@dataclass(frozen=True, slots=True)
class ServerState:
    """Everything one app holds, kept on ``app.state.conveyor``."""

    backend: Backend
    settings: Settings
    hub: EventHub
    registry: CollectorRegistry
    rate_limiter: RateLimiter | None = None
    host: HostLoad = field(default_factory=HostLoad)
    """The host's load readings, started with the app (see conveyor.server.host)."""


async def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.conveyor
    return state


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from its API key; everyone is an admin on a server without keys.
    (Dependencies are coroutines so that FastAPI does not hop to a thread for them.)"""
    settings = (await server_state(request)).settings
    return OPEN_ACCESS if settings.open_access else _authenticated(settings, credentials)


async def principal(request: Request, caller: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """The caller, within its rate limit (429 past it)."""
    limiter = (await server_state(request)).rate_limiter
    if limiter is not None:
        _within_rate(limiter, caller, request)
    return caller


def _authenticated(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        message = "Missing API key: send the header Authorization: Bearer <key>"
        raise ApiError(401, "Unauthorized", message, headers=challenge)
    found = authenticate(settings.api_keys, credentials.credentials)
    if found is None:
        raise ApiError(401, "Unauthorized", "Invalid API key", headers=challenge)
    return found


def _within_rate(limiter: RateLimiter, caller: Principal, request: Request) -> None:
    """Count the request against its user's budget (each client address's on an open server)."""
    who = f"user {caller.user_id}" if caller.user_id is not None else f"client {_client(request)}"
    wait = limiter.take(who)
    if wait:
        seconds = retry_after(wait)
        raise ApiError(
            429, "TooManyRequests",
            f"Rate limit of {limiter.limit.text} requests exceeded for {who}: retry in {seconds} s",
            headers={"Retry-After": str(seconds)}, retry_after_seconds=seconds, limit=limiter.limit.text,
        )  # fmt: skip


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


State = Annotated[ServerState, Depends(server_state)]
Caller = Annotated[Principal, Depends(principal)]


async def operator(caller: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """An admin key's caller (every caller on a server without keys)."""
    if not caller.is_admin:
        raise ApiError(403, "Forbidden", "Metrics show every user's jobs: they need an admin key")
    return caller


Monitor = Annotated[Principal, Depends(operator)]
"""An admin caller that no rate limit applies to: metrics scrapes keep working while a
user floods the API, and show every user's counts, so only to admins."""
