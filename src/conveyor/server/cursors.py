"""Opaque page cursors: where the next page starts, bound to the listing and the filters
it was made for, so that a cursor from elsewhere (or a mangled one) is a clear 400
instead of a wrong page."""

from __future__ import annotations

import base64
import binascii
import hashlib

from conveyor.server.errors import ApiError, validation_error


def encode(kind: str, position: str, scope: str) -> str:
    """A cursor for ``position`` in listing ``kind`` under these filters (``scope``)."""
    text = f"{kind}:{_signature(scope)}:{position}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, scope: str) -> str:
    """The position a cursor holds; a 400 naming the cursor when it was not made here."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        made_for, signature, position = text.split(":", 2)
        if made_for == kind and signature == _signature(scope) and position:
            return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise invalid()


def invalid() -> ApiError:
    """The 400 for a cursor that was not made by this listing with these filters."""
    return validation_error(
        "The cursor is invalid, or was made for other filters",
        [{"field": "cursor", "location": "query", "message": "invalid cursor", "type": "value_error"}],
    )


def _signature(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]
