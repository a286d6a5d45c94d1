"""API keys: who is calling, and whether they may see a job.

Keys come from ``CONVEYOR_API_KEYS`` (``key:user_id:role,...``, plain text) or from a
file of hashed keys, one per line: ``sha256:<hex of sha256(key)>:user_id:role``
(``conveyor keys new`` and ``conveyor keys hash`` print such lines). Only hashes are kept in memory, and a
presented key is hashed and compared with ``hmac.compare_digest`` against each of
them, so the time taken says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from conveyor.exceptions import ConfigurationError
from conveyor.options import name_problem

ROLES = ("user", "admin")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key, by its sha256 digest, with the user and role it stands for."""

    digest: bytes
    user_id: str
    role: str

    def __repr__(self) -> str:  # never print even the hash in logs
        return f"ApiKey(user_id={self.user_id!r}, role={self.role!r})"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. ``user_id`` is None only on an open server."""

    user_id: str | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, owner: str | None) -> bool:
        """Whether a job owned by ``owner`` exists for this caller (others' jobs do not)."""
        return self.is_admin or owner == self.user_id


OPEN_ACCESS = Principal(user_id=None, role="admin")
"""Who every caller is when no keys are configured."""


def hash_key(key: str) -> str:
    """The line to put in a keys file for ``key`` (without user and role)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def user_id_problem(user_id: str) -> str | None:
    """Why ``user_id`` cannot stand in a key line (``:`` and ``,`` separate its parts), or None."""
    problem = name_problem(user_id) or ("must not contain ':' or ','" if any(ch in ":," for ch in user_id) else None)
    return None if problem is None else f"the user id {problem}"


def _make(digest: bytes, user_id: str, role: str, where: str) -> ApiKey:
    problem = user_id_problem(user_id)
    if problem:
        raise ConfigurationError(f"{where}: {problem}")
    if role not in ROLES:
        raise ConfigurationError(f"{where}: role must be 'user' or 'admin', got {role!r}")
    return ApiKey(digest, user_id, role)


def keys_from_env(value: str) -> tuple[ApiKey, ...]:
    """Keys from ``key:user_id:role,...`` (role defaults to user)."""
    if value.strip() and not value.strip(", \t\n"):  # set, but to separators only: not an open API by mistake
        raise ConfigurationError(f"CONVEYOR_API_KEYS names no key: {value!r}")
    keys = []
    for number, item in enumerate((part.strip() for part in value.split(",")), start=1):
        if not item:
            continue
        key, _, rest = item.partition(":")
        user_id, _, role = rest.partition(":")
        if not key:
            raise ConfigurationError(f"CONVEYOR_API_KEYS entry {number}: the key is empty")
        where = f"CONVEYOR_API_KEYS entry {number}"
        keys.append(_make(hashlib.sha256(key.encode()).digest(), user_id, role or "user", where))
    return tuple(keys)


def keys_from_file(path: str | Path) -> tuple[ApiKey, ...]:
    """Keys from a file of ``sha256:<hex>:user_id:role`` lines (blank lines and # comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the API keys file {path}: {exc.strerror}") from None
    keys = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path} line {number}"
        parts = line.split(":")
        if len(parts) != 4 or parts[0] != "sha256":
            raise ConfigurationError(f"{where}: expected sha256:<hex>:user_id:role")
        try:
            digest = bytes.fromhex(parts[1])
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ConfigurationError(f"{where}: the hash must be 64 hex digits")
        keys.append(_make(digest, parts[2], parts[3], where))
    return tuple(keys)


def authenticate(keys: tuple[ApiKey, ...], presented: str) -> Principal | None:
    """The principal for a presented key, or None; every stored key is compared."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, digest):
            found = key
    return None if found is None else Principal(found.user_id, found.role)
