"""Backend URLs in messages: passwords never leave the process in an error or a log line."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def masked_url(url: str) -> str:
    """The URL with any password (in the user info or a ``password=`` option) shown as
    ``***``: fit for messages, logs and API answers."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    masked = url.replace(f":{password}@", ":***@", 1) if password else url
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", masked)
