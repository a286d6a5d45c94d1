"""Backend URLs in messages: passwords never leave the process in an error or a log line."""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*:)[^/?#]*@", re.IGNORECASE)
"""The user info's password: up to the host's '@', the last one (as urllib and redis-py
read it), so that a password holding an '@' unencoded is masked whole."""
_LOOSE_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*:).*@", re.IGNORECASE | re.DOTALL)
"""For a password holding an unencoded '/', '?' or '#' (no parser reads such a URL, but its
error shows it): everything up to the URL's last '@'. Masking too much is harmless."""
_PASSWORD_OPTION = re.compile(r"([?&][a-z_]*password=)[^&#]*", re.IGNORECASE)
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
"""Redis URLs that name Sentinels and a service (see conveyor.backends.redis.sentinel)."""


def masked_url(url: str) -> str:
    """The URL with any password (in the user info, an option named ``password`` or ending
    so: ``sentinel_password``, ``ssl_password``) shown as ``***``: fit for messages, logs
    and API answers. Pattern-based, so that a URL too malformed to parse is masked too."""
    userinfo = _USERINFO_PASSWORD if _USERINFO_PASSWORD.match(url) else _LOOSE_USERINFO_PASSWORD
    return _PASSWORD_OPTION.sub(r"\1***", userinfo.sub(r"\1***@", url))
