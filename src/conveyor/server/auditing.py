"""The REST API's side of the audit log (conveyor.audit): actions taken with a key are
recorded under the key's user and role."""

from __future__ import annotations

from conveyor import audit
from conveyor.server.auth import Principal
from conveyor.server.deps import ServerState

OPEN_ACTOR = "(no key)"
"""The actor of an action on a server without keys (everyone is an admin there)."""


def record(state: ServerState, caller: Principal, action: str, target: str, detail: str = "") -> None:
    actor = caller.user_id if caller.user_id is not None else OPEN_ACTOR
    audit.record(state.backend, actor=actor, role=caller.role, via="rest", action=action, target=target, detail=detail)
