"""Job ids: UUIDs whose leading bits are the creation time (the UUIDv7 layout).

They read like any UUID and carry 74 random bits, so they cannot be guessed; being
time-ordered, new ids land together at the end of the store's id index instead of
scattering writes over all of it, which makes enqueueing markedly faster.
"""

from __future__ import annotations

import os
import time

_VARIANT = {f"{i:x}": f"{(i & 0x3) | 0x8:x}" for i in range(16)}


def new_job_id() -> str:
    """A new time-ordered UUID string (version 7, RFC 9562 variant)."""
    digits = (time.time_ns() // 1_000_000).to_bytes(6, "big").hex() + os.urandom(10).hex()
    return f"{digits[:8]}-{digits[8:12]}-7{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
