"""Job ids: UUIDs whose leading bits are the creation time (the UUIDv7 layout).

They read like any UUID and carry 62 random bits, so they cannot be guessed; being
time-ordered, new ids land together at the end of the store's id index instead of
scattering writes over all of it, which makes enqueueing markedly faster. The 12
bits after the millisecond hold its fraction, bumped when needed so that the ids one
process makes are strictly increasing (RFC 9562, section 6.2, method 3): listing
batches or jobs newest first by id keeps their order even within one millisecond.
"""

from __future__ import annotations

import os
import threading
import time

_VARIANT = {f"{i:x}": f"{(i & 0x3) | 0x8:x}" for i in range(16)}


class _Stamps:
    """Milliseconds and their fraction (``ms << 12 | fraction``), never the same twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        ns = time.time_ns()
        stamp = (ns // 1_000_000) << 12 | (ns % 1_000_000) * 4096 // 1_000_000
        with self._lock:
            self._last = max(stamp, self._last + 1)
            return self._last


_stamps = _Stamps()


def new_job_id() -> str:
    """A new time-ordered UUID string (version 7, RFC 9562 variant)."""
    stamp = _stamps.next()
    digits = (stamp >> 12).to_bytes(6, "big").hex() + f"0{stamp & 0xFFF:03x}" + os.urandom(8).hex()
    return f"{digits[:8]}-{digits[8:12]}-7{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
