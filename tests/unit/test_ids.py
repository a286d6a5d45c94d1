"""Job ids: valid UUIDs, time-ordered, unguessable."""

from __future__ import annotations

import os
import uuid

from conveyor.ids import new_job_id


def test_ids_are_version_7_uuids_with_the_rfc_variant() -> None:
    for _ in range(200):
        parsed = uuid.UUID(new_job_id())
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_ids_made_later_sort_later_and_never_repeat() -> None:
    ids = [new_job_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert ids == sorted(ids), "strictly increasing within one process, even within a millisecond"


def test_the_time_leads_the_id() -> None:
    import time

    before = time.time_ns() // 1_000_000
    made = int(new_job_id().replace("-", "")[:12], 16)
    assert before <= made <= time.time_ns() // 1_000_000 + 1


def test_a_forked_child_draws_other_random_bits_than_its_parent() -> None:
    new_job_id()  # the parent's buffer of random bytes is filled
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids' random parts, then leave at once
        os.write(writer, " ".join(new_job_id()[-12:] for _ in range(20)).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        child = set(pipe.read().split())
    parent = {new_job_id()[-12:] for _ in range(20)}
    assert len(child) == 20
    assert not child & parent
