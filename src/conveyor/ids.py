"""Job ids: the rule for ids given by callers, and the ids conveyor makes.

An id given for a new job (``job_id=``, ``Job.create(id=)``, ``--job-id``, REST's
``job_id``) must keep to one rule, checked here for every way in: 1 to 200 characters,
no control characters, no spaces at its ends, no '/', and neither '.', '..' nor 'stats'
(an id must name its job in REST paths: /api/v1/jobs/{id} cannot hold a '/', clients
resolve '.' and '..' away, and /api/v1/jobs/stats answers the statistics), and text
(no lone UTF-16 surrogate: what Python makes of bytes that are not UTF-8, as in a
command line, and what no store can hold). Reads do not apply it: an id breaking it
names no job, so looking one up finds nothing.

The ids conveyor makes are UUIDs whose leading bits are the creation time (the UUIDv7 layout).

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

from conveyor.exceptions import InvalidJobIdError

JOB_ID_MAX_LENGTH = 200
RESERVED_JOB_IDS = frozenset({".", "..", "stats"})
"""Ids that REST paths cannot name: clients resolve dots away, /jobs/stats is a route."""
JOB_ID_RULE = (
    "a job id is 1 to 200 characters, without control characters, spaces at its ends or '/', "
    "and not '.', '..' or 'stats'"
)
NOT_TEXT = "it holds a lone surrogate, which is not text (as Python reads a byte that is not UTF-8)"
"""What text_problem says of a string no store can hold."""


def is_text(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8: no lone UTF-16 surrogate (``"\\udcff"``,
    what Python reads a command line's non-UTF-8 byte as). Stores hold only such text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_text(value: str) -> str:
    """``value`` made text: each lone surrogate written as its escape (``\\udcff``).
    For text conveyor writes itself, such as a traceback whose message names a file
    with a byte that is not UTF-8 (os.listdir's names): a store could not hold it."""
    return value if is_text(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(value: str) -> str | None:
    """NOT_TEXT if ``value`` is not text (see is_text), else None."""
    return None if is_text(value) else NOT_TEXT


def job_id_problem(job_id: object) -> str | None:
    """What breaks the job-id rule in ``job_id`` (None if nothing does)."""
    if not isinstance(job_id, str):
        return f"it must be a string, got {type(job_id).__name__}"
    if not job_id:
        return "it is empty"
    if len(job_id) > JOB_ID_MAX_LENGTH:
        return f"it is {len(job_id)} characters long"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in job_id):
        return "it holds a control character"
    if job_id.strip() != job_id:
        return "it has spaces at its ends"
    if "/" in job_id:
        return "it holds a '/'"
    if job_id in RESERVED_JOB_IDS:
        return "it is reserved"
    return text_problem(job_id)


def validate_job_id(job_id: object) -> str:
    """``job_id`` if it keeps to the rule, else InvalidJobIdError saying what breaks it."""
    problem = job_id_problem(job_id)
    if problem is not None:
        raise InvalidJobIdError(job_id, f"invalid job id {job_id!r:.80}: {problem} ({JOB_ID_RULE})")
    return job_id  # type: ignore[return-value]  # a str: job_id_problem says so


_VARIANT = {f"{i:x}": f"{(i & 0x3) | 0x8:x}" for i in range(16)}


class _Sources:
    """Time stamps (``ms << 12 | fraction``, never the same twice) and random bytes.

    Random bytes come from a buffer filled by ``os.urandom`` 4 KiB at a time: one
    system call per 512 ids instead of one per id. A forked child starts with an empty
    buffer, so parent and child never hand out the same bytes, and a lock of its own.
    """

    _CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._random = b""
        self._used = 0
        os.register_at_fork(after_in_child=self._forget_random)

    def _forget_random(self) -> None:
        # the lock too: another thread of the parent may have held it at the fork, and
        # would never let go of the child's copy
        self._lock = threading.Lock()
        self._random, self._used = b"", 0

    def next(self) -> tuple[int, bytes]:
        ns = time.time_ns()
        stamp = (ns // 1_000_000) << 12 | (ns % 1_000_000) * 4096 // 1_000_000
        with self._lock:
            self._last = max(stamp, self._last + 1)
            if self._used >= len(self._random):
                self._random, self._used = os.urandom(self._CHUNK), 0
            self._used += 8
            return self._last, self._random[self._used - 8 : self._used]


_sources = _Sources()


def new_job_id() -> str:
    """A new time-ordered UUID string (version 7, RFC 9562 variant)."""
    stamp, random = _sources.next()
    digits = (stamp >> 12).to_bytes(6, "big").hex() + f"0{stamp & 0xFFF:03x}" + random.hex()
    return f"{digits[:8]}-{digits[8:12]}-7{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
