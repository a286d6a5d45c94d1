"""Backend URLs in messages: passwords never leave the process in an error or a log line."""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*:)[^/?#]*@", re.IGNORECASE)
"""The user info's password: up to the host's '@', the last one (as urllib and redis-py
read it), so that a password holding an '@' unencoded is masked whole."""
_PASSWORD_OPTION = re.compile(r"([?&](?:sentinel_)?password=)[^&#]*", re.IGNORECASE)
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
"""Redis URLs that name Sentinels and a service (see conveyor.backends.redis.sentinel)."""


def masked_url(url: str) -> str:
    """The URL with any password (in the user info, a ``password=`` or ``sentinel_password=``
    option) shown as ``***``: fit for messages, logs and API answers. Pattern-based, so
    that a URL too malformed to parse is masked too."""
    return _PASSWORD_OPTION.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", url))
