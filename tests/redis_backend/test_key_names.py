"""The queued indexes' key names, which the functions keep from call to call (per key base,
at most a thousand): each namespace's jobs land in its own indexes, whatever the count."""

from __future__ import annotations

from conveyor.backends.redis.backend import RedisBackend
from conveyor.status import JobStatus
from conveyor.testing import make_record
from redis_backend.conftest import connect
from redis_server import RedisServer

NOW = 1_000_000.0


def queued_members(backend: RedisBackend, *parts: str) -> set[str]:
    key = backend.keys.base + ":".join(parts)
    return {member.decode().split("|", 1)[1] for member in backend._redis.zrange(key, 0, -1)}


def test_namespaces_taking_turns_keep_to_their_own_indexes(redis_server: RedisServer) -> None:
    first, second = connect(redis_server), connect(redis_server)
    try:
        for n in range(3):
            for backend, name in ((first, "first"), (second, "second")):
                backend.jobs_enqueue([make_record(id=f"{name}-{n}", queue="q", user_id="u")], NOW)
        for backend, name in ((first, "first"), (second, "second")):
            ids = {f"{name}-{n}" for n in range(3)}
            assert queued_members(backend, "queued", "q") == ids
            assert queued_members(backend, "byuser", "1", "q", "u") == ids
            assert backend._redis.smembers(backend.keys.base + "users:q") == {b"u"}
            claimed = backend.jobs_claim(["q"], "w", 10, "lease", NOW + 60, NOW)
            assert {record.id for record in claimed} == ids
    finally:
        first.close()
        second.close()


def test_more_names_than_are_kept_are_all_indexed(backend: RedisBackend) -> None:
    users = [f"user-{n}" for n in range(1_100)]
    backend.jobs_enqueue([make_record(id=f"bulk-{user}", queue="q", user_id=user) for user in users], NOW)
    for user in users[::-1]:  # one call each, after the bulk: names made again once dropped
        backend.jobs_enqueue([make_record(id=f"one-{user}", queue="q", user_id=user)], NOW)
    for user in (users[0], users[999], users[1_000], users[-1]):
        assert queued_members(backend, "byuser", "1", "q", user) == {f"bulk-{user}", f"one-{user}"}
    assert backend._redis.scard(backend.keys.base + "users:q") == len(users)
    assert backend.jobs_count("q", (JobStatus.QUEUED,)) == 2 * len(users)
