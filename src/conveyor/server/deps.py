"""What route handlers receive: the app's state and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from conveyor.backends.base import Backend
from conveyor.server.auth import OPEN_ACCESS, Principal, authenticate
from conveyor.server.errors import ApiError
from conveyor.server.events import EventHub
from conveyor.server.settings import Settings


@dataclass(frozen=True, slots=True)
class ServerState:
    """Everything one app holds, kept on ``app.state.conveyor``."""

    backend: Backend
    settings: Settings
    hub: EventHub
    registry: CollectorRegistry


async def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.conveyor
    return state


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from its API key; everyone is an admin on a server without keys.
    (Dependencies are coroutines so that FastAPI does not hop to a thread for them.)"""
    settings = (await server_state(request)).settings
    if settings.open_access:
        return OPEN_ACCESS
    if credentials is None:
        raise ApiError(401, "Unauthorized", "Missing API key: send the header Authorization: Bearer <key>")
    found = authenticate(settings.api_keys, credentials.credentials)
    if found is None:
        raise ApiError(401, "Unauthorized", "Invalid API key")
    return found


State = Annotated[ServerState, Depends(server_state)]
Caller = Annotated[Principal, Depends(principal)]
