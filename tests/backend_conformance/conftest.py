"""The conformance ``backend`` fixture: the shared backend, audited on every write.

Every write made through it, by any test of the suite, is checked against the state
machine (each status change must be allowed by conveyor.status.can_transition), and a
write that raises must leave the store exactly as it was (operations are atomic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest

from backend_conformance.helpers import snapshot, transitions
from conveyor.backends.base import Backend
from conveyor.status import can_transition

WRITES = frozenset(
    {
        "jobs_enqueue",
        "jobs_claim",
        "jobs_settle",
        "leases_extend",
        "leases_recover",
        "job_cancel",
        "job_request_stop",
        "jobs_requeue",
        "job_delete",
        "job_update",
        "jobs_promote_due",
        "jobs_expire",
        "jobs_purge",
        "queue_empty",
    }
)


class AuditedBackend:
    """Forwards everything to a backend; audits the writes (see the module doc)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in WRITES:
            return attribute
        return self._audited(name, attribute)

    def _audited(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            before = snapshot(self.inner)
            try:
                result = method(*args, **kwargs)
            except Exception:
                assert snapshot(self.inner) == before, f"{name} raised but changed the store"
                raise
            # enqueueing over a terminal job replaces it: a new job, not a transition
            replaced = frozenset(r.id for r in args[0]) if name == "jobs_enqueue" else frozenset()
            for job_id, old, new in transitions(before, snapshot(self.inner), replaced):
                assert can_transition(old, new), f"{name} moved job {job_id} from {old} to {new}"
            return result

        return call


@pytest.fixture
def backend(backend: Backend) -> Backend:
    return cast(Backend, AuditedBackend(backend))
