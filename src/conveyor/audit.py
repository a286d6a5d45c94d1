"""The audit log: the operator actions taken on a store, who took them and when.

The control plane records them (the REST API with its caller's key, the command line with
its user and host), not the library: they know who acts, and a job's own calls (a
callback canceling another job) are the application's, not an operator's. Each action
goes to the store's log (Backend.audit_append: the latest AUDIT_KEPT, for ``GET
/api/v1/audit`` and ``conveyor audit``) and to the ``conveyor.audit`` logger, for logs kept
longer. An action is recorded once done: a store that fails to record it loses the entry,
not the action (a warning says so).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time

from conveyor.backends.base import Backend
from conveyor.exceptions import BackendError
from conveyor.types import AuditRecord

log = logging.getLogger("conveyor.audit")

ACTIONS = (
    "job.cancel", "job.stop", "job.restart", "job.requeue", "job.delete",
    "batch.start", "batch.reschedule", "batch.cancel",
    "queue.pause", "queue.resume", "queue.empty",
    "worker.shutdown", "store.cleanup", "store.repair",
)  # fmt: skip
"""What the log records (AuditRecord.action)."""


def record(
    backend: Backend, *, actor: str, role: str | None, via: str, action: str, target: str = "", detail: str = ""
) -> AuditRecord:
    """Log an action taken, in the store and to the ``conveyor.audit`` logger."""
    assert action in ACTIONS, action
    entry = AuditRecord(time.time(), actor, role, via, action, target, detail)
    log.info("%s by %s via %s%s%s", action, actor, via, target and f": {target}", detail and f" ({detail})")
    try:
        backend.audit_append(entry)
    except BackendError as exc:
        log.warning("the store did not record %s by %s in its audit log: %s", action, actor, exc)
    return entry


def command_line_actor() -> str:
    """``user@host`` of this process (the uid where the user has no name)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a uid without a passwd entry (some containers)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"
