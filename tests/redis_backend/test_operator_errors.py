"""What an operator gets wrong about Redis, said clearly: ACL users, replicas, passwords,
URL options that change the reply format; and the README's ACL user runs everything."""

from __future__ import annotations

import re
import shlex
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis._parsers.base import BaseParser

import conveyor
from conveyor import JobStatus, Queue, Worker
from conveyor.backends.redis.backend import _reply
from conveyor.clock import SYSTEM_CLOCK
from conveyor.exceptions import BackendError, BackendUnavailableError, ConfigurationError
from jobfuncs import add
from redis_server import RedisServer
from waiting import wait_until

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own: its users and its function library start empty."""
    redis_server = RedisServer(tmp_path).start()
    yield redis_server
    redis_server.stop()


def add_user(server: RedisServer, name: str, *rules: str) -> str:
    """Create an ACL user with password 'pw'; the URL that logs in as it, prefix billing."""
    with redis.Redis(port=server.port) as admin:
        admin.execute_command("ACL", "SETUSER", name, *rules)
    return f"redis://{name}:pw@127.0.0.1:{server.port}/0?prefix=billing"


def test_the_readmes_acl_user_runs_everything_and_loads_the_functions(server: RedisServer) -> None:
    line = re.search(r"^\s*(ACL SETUSER conveyor .*)$", README.read_text(), re.MULTILINE)
    assert line, "the README shows the ACL user"
    rules = [rule.replace("{conveyor}", "{billing}") for rule in shlex.split(line.group(1))[3:]]
    backend = conveyor.connect(add_user(server, "conveyor", *[r if r != ">secret" else ">pw" for r in rules]))
    try:
        assert backend.schedule_signals() is None, "listens for due times"
        Queue(connection=backend).enqueue_in(timedelta(hours=1), add, 1, 2)  # the first call loads the library
        assert wait_until(backend.schedule_signals, timeout=5, message="the due time announced") > time.time()
        job = Queue(connection=backend).enqueue(add, 1, 2)
        Worker(["default"], connection=backend).work(burst=True)
        assert (job.get_status(), job.result) == (JobStatus.FINISHED, 3)
        assert backend.events_read("0", 10, 0)[1]
        assert not any("could not read" in warning for warning in backend.store_warnings())
        assert backend.store_serving_since(1.0) is not None, "INFO is allowed"
        assert backend.store_clock_offset(SYSTEM_CLOCK) is not None, "TIME is allowed"
        assert backend.invariants_check(0.0, repair=False) == []
    finally:
        backend.close()


def test_a_user_refused_time_is_told_its_clock_goes_unchecked(server: RedisServer) -> None:
    backend = conveyor.connect(add_user(server, "notime", "on", ">pw", "~{billing}:*", "+@all", "-time"))
    try:
        assert backend.store_clock_offset(SYSTEM_CLOCK) is None
        assert any("+time" in warning for warning in backend.store_warnings())
        job = Queue(connection=backend).enqueue(add, 1, 2)
        Worker(["default"], connection=backend).work(burst=True)
        assert job.get_status() is JobStatus.FINISHED
    finally:
        backend.close()


def test_a_user_refused_a_key_or_a_command_is_told_what_the_acl_lacks(server: RedisServer) -> None:
    no_load = conveyor.connect(add_user(server, "noload", "on", ">pw", "~{billing}:*", "+@all", "-function|load"))
    other_keys = conveyor.connect(add_user(server, "otherkeys", "on", ">pw", "~other:*", "+@all"))
    try:
        with pytest.raises(BackendError, match=r"ACL user .*FUNCTION LOAD") as raised:
            Queue(connection=no_load).enqueue(add, 1, 2)  # the library is not loaded yet
        assert "function|load" in str(raised.value)
        with pytest.raises(BackendError, match=r"ACL user .*~\{billing\}:\*"):
            Queue(connection=other_keys).enqueue(add, 1, 2)
    finally:
        no_load.close()
        other_keys.close()


def test_a_user_without_the_channels_schedules_all_the_same_and_is_warned_it_hears_no_due_times(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The channels are optional: the announcement a function publishes is lost, not the
    job; the worker, refused its subscription, says what that costs and how to mend it,
    once, however many times it tries again."""
    backend = conveyor.connect(add_user(server, "nochannels", "on", ">pw", "~{billing}:*", "resetchannels", "+@all"))
    try:
        assert backend.schedule_signals() is None  # (Redis refuses the subscription in its reply, read next)
        wait_until(lambda: backend.schedule_signals() is None and subscriptions_refused(server) >= 3, timeout=10)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "cannot hear the due times" in warnings[0] and "Redis ACL" in warnings[0]
        job = Queue(connection=backend).enqueue_in(timedelta(hours=1), add, 1, 2)
        assert job.get_status() is JobStatus.SCHEDULED
    finally:
        backend.close()


def subscriptions_refused(server: RedisServer) -> int:
    with redis.Redis(port=server.port) as admin:
        return int(admin.info("commandstats").get("cmdstat_subscribe", {}).get("rejected_calls", 0))


def test_a_command_a_function_may_not_run_is_an_acl_error_too(server: RedisServer) -> None:
    backend = conveyor.connect(add_user(server, "noxadd", "on", ">pw", "~{billing}:*", "+@all", "-xadd"))
    try:
        with pytest.raises(BackendError, match=r"refused this to the URL's ACL user"):
            Queue(connection=backend).enqueue(add, 1, 2)
    finally:
        backend.close()


def test_a_wrong_password_says_so(server: RedisServer) -> None:
    add_user(server, "someone", "on", ">pw", "~*", "+@all")
    with pytest.raises(BackendUnavailableError, match="refused the credentials") as raised:
        conveyor.connect(f"redis://someone:wrong@127.0.0.1:{server.port}/0")
    assert "wrong" not in str(raised.value)


def test_a_read_only_replica_is_named_as_one(server: RedisServer, tmp_path: Path) -> None:
    replica = RedisServer(tmp_path, options=("--replicaof", "127.0.0.1", str(server.port))).start()
    backend = conveyor.connect(replica.url)
    try:
        with pytest.raises(BackendError, match="is a read-only replica .*point conveyor at the primary"):
            Queue(connection=backend).enqueue(add, 1, 2)
        with pytest.raises(BackendError, match="is a read-only replica"):
            backend.workers_unregister("someone")  # a plain command, not a function
    finally:
        backend.close()
        replica.stop()


@pytest.mark.parametrize("option", ["protocol=3", "decode_responses=true"])
def test_url_options_that_change_the_reply_format_are_refused(redis_server: RedisServer, option: str) -> None:
    with pytest.raises(ConfigurationError, match="bytes over RESP2"):
        conveyor.connect(f"{redis_server.url}?{option}")


@pytest.mark.parametrize("option", ["socket_timeout=0", "socket_connect_timeout=0", "socket_timeout=-1"])
def test_a_timeout_of_zero_is_refused_not_taken_for_an_unreachable_redis(
    redis_server: RedisServer, option: str
) -> None:
    with pytest.raises(ConfigurationError, match="must be a positive number of seconds"):
        conveyor.connect(f"{redis_server.url}?{option}")


def test_a_writable_replica_is_warned_about(server: RedisServer, tmp_path: Path) -> None:
    options = ("--replicaof", "127.0.0.1", str(server.port), "--replica-read-only", "no")
    replica = RedisServer(tmp_path, options=options).start()
    backend = conveyor.connect(replica.url)
    try:
        Queue(connection=backend).enqueue(add, 1, 2)  # taken, and lost at the replica's next sync
        warnings = backend.store_warnings()
        assert any(f"is a replica of 127.0.0.1:{server.port}" in warning for warning in warnings), warnings
    finally:
        backend.close()
        replica.stop()
    primary = conveyor.connect(server.url)
    try:
        assert not any("is a replica" in warning for warning in primary.store_warnings())
    finally:
        primary.close()


def test_a_redis_short_of_replicas_refuses_for_now_and_says_so(tmp_path: Path) -> None:
    lonely = RedisServer(tmp_path, options=("--min-replicas-to-write", "1")).start()
    backend = conveyor.connect(lonely.url)
    try:  # an outage to wait out (a worker holds its outcomes and retries), not a failure
        with pytest.raises(BackendUnavailableError, match=r"refuses this for now \(NOREPLICAS"):
            Queue(connection=backend).enqueue(add, 1, 2)
    finally:
        backend.close()
        lonely.stop()


def test_a_redis_busy_with_a_long_script_refuses_for_now(tmp_path: Path) -> None:
    busy = RedisServer(tmp_path, options=("--busy-reply-threshold", "50")).start()
    backend = conveyor.connect(busy.url)
    looping = socket.create_connection(("127.0.0.1", busy.port))
    try:
        looping.sendall(b'EVAL "while true do end" 0\r\n')  # runs until SCRIPT KILL
        with redis.Redis(port=busy.port) as admin:
            wait_until(lambda: _busy(admin), message="the script to run past the threshold")
        with pytest.raises(BackendUnavailableError, match=r"refuses this for now \(BUSY"):
            Queue(connection=backend).enqueue(add, 1, 2)
    finally:
        with redis.Redis(port=busy.port) as admin:
            admin.script_kill()
        looping.close()
        backend.close()
        busy.stop()


def _busy(admin: redis.Redis) -> bool:
    try:
        admin.ping()
    except redis.exceptions.BusyLoadingError:
        return True
    except redis.exceptions.ResponseError as exc:
        return "BUSY" in str(exc)
    return False


@pytest.mark.parametrize(
    "reply", ["MOVED 15495 127.0.0.1:7001", "TRYAGAIN Multiple keys", "CLUSTERDOWN The cluster is down", "BUSY busy"]
)
def test_error_replies_are_read_whole_whatever_redis_py_makes_of_them(reply: str) -> None:
    # redis-py 6 and later take the code off the replies it has a class for; 5 keeps it
    assert _reply(BaseParser.parse_error(reply)) == reply
