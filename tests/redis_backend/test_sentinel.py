"""Redis Sentinel: a redis+sentinel:// URL reaches the primary the Sentinels name, and after
a failover every process finds the new primary by itself."""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

import conveyor
import jobfuncs
from conveyor import JobStatus, Queue, Worker
from conveyor.backends.redis.backend import RedisBackend
from conveyor.backends.redis.sentinel import FollowingSentinel
from conveyor.backends.redis.switch_watch import CHANNEL, THREAD_NAME, SwitchWatch
from conveyor.exceptions import BackendUnavailableError, ConfigurationError
from conveyor.urls import masked_url
from redis_sentinel import NODE_PASSWORD, SENTINEL_PASSWORD, SERVICE, SentinelDeployment, node_client, sentinel_client
from redis_server import RedisServer, free_port, self_signed_certificate
from waiting import wait_until
from worker.processes import start_worker, stop_processes, worker_log

from .round_trip import run_one_job


@pytest.fixture
def deployment(sentinel_deployment: SentinelDeployment) -> SentinelDeployment:
    return sentinel_deployment


def namespaced(url: str) -> str:
    return f"{url}&prefix=test-{uuid.uuid4().hex[:12]}"


def test_a_sentinel_url_stores_and_runs_jobs_on_the_primary(deployment: SentinelDeployment) -> None:
    primary = next(node for node in deployment.nodes if deployment.address(node) == deployment.primary_port())
    with node_client(primary) as admin:
        clients = own_connections(admin)
        backend = conveyor.connect(namespaced(deployment.url))
        assert isinstance(backend, RedisBackend)
        try:
            job = run_one_job(backend)
            assert admin.exists(backend.keys.job(job.id))
        finally:
            backend.close()
        assert own_connections(admin) <= clients, "closing the backend closes its connections"


def own_connections(admin: redis.Redis, *, subscribed: bool = False) -> int:
    """How many of the node's clients are this test process's: the deployment is shared,
    and the Sentinels, the replica and other tests' processes come and go meanwhile.
    ``subscribed``: only those subscribed to a channel (on a Sentinel: the switch watches)."""
    clients = admin.client_list()  # (first: admin's own connection is made by it)
    ours = {f"{c.laddr.ip}:{c.laddr.port}" for c in psutil.Process().net_connections(kind="tcp") if c.laddr}
    return sum(1 for client in clients if client["addr"] in ours and (int(client["sub"]) > 0 or not subscribed))


def test_connections_leave_the_old_primary_as_soon_as_the_sentinels_announce_the_new_one(
    deployment: SentinelDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    """Not when the old primary is demoted, seconds later: what is enqueued meanwhile is
    stored on the new primary, and a blocking read under way on the old one ends as an
    outage."""
    old = next(node for node in deployment.nodes if deployment.address(node) == deployment.primary_port())
    with sentinel_client(deployment.sentinel_ports[0]) as sentinel, node_client(old) as old_admin:
        announcements = sentinel.pubsub()
        announcements.subscribe(CHANNEL)
        wait_until(lambda: heard(announcements, "subscribe"), message="the test's own subscription")
        watches, elsewhere = own_connections(sentinel, subscribed=True), own_connections(old_admin)
        backend = conveyor.connect(namespaced(deployment.url))
        reader = BlockingReader(backend)
        try:
            wait_until(lambda: own_connections(sentinel, subscribed=True) == watches + 1, message="the watch")
            queue = Queue(connection=backend)
            queue.enqueue(jobfuncs.noop)
            assert own_connections(old_admin) >= elsewhere + 2, "the enqueue's and the blocking read's connections"
            with caplog.at_level(logging.WARNING, logger="conveyor.backends.redis"):
                _, new = deployment.start_failover()
                wait_until(lambda: heard(announcements, "message"), timeout=60, message="the announcement")
                wait_until(lambda: own_connections(old_admin) == elsewhere, timeout=5, message="the backend to leave")
                job = queue.enqueue(jobfuncs.noop)
                outage = wait_until(lambda: reader.ended, timeout=5, message="the blocking read to end")
                assert old_admin.info("replication")["role"] == "master", "all before the old primary's demotion"
                with node_client(new) as new_admin:
                    assert new_admin.exists(backend.keys.job(job.id)), "the enqueue went to the new primary"
                assert not old_admin.exists(backend.keys.job(job.id))
                assert isinstance(outage[0], BackendUnavailableError)
                deployment.finish_failover(old, new)  # (the deployment is shared: the next test needs it whole)
        finally:
            reader.stop()
            backend.close()
            announcements.close()
    assert caplog.text.count("moved from") == 1, "the switch is logged once, announced or asked"


def heard(pubsub: redis.client.PubSub, kind: str) -> bool:
    message = pubsub.get_message(timeout=0.1)
    return message is not None and message["type"] == kind


class BlockingReader:
    """An idle worker's wait for jobs, over and over in a thread: ``ended`` holds what
    ended it other than its timeout."""

    def __init__(self, backend: conveyor.backends.base.Backend) -> None:
        self.ended: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(backend,), daemon=True)
        self._thread.start()

    def _run(self, backend: conveyor.backends.base.Backend) -> None:
        while not self._stop.is_set():
            try:
                backend.wait_for_jobs(["nothing-comes"], 5.0)
            except BaseException as exc:
                self.ended.append(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_sentinel_backend_watches_in_one_thread_it_ends_at_close(
    deployment: SentinelDeployment, redis_server: RedisServer
) -> None:
    def watching() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == THREAD_NAME)

    before = watching()
    conveyor.connect(f"{redis_server.url}?prefix=test-{uuid.uuid4().hex[:12]}").close()
    with sentinel_client(deployment.sentinel_ports[0]) as sentinel:
        subscribed = own_connections(sentinel, subscribed=True)
        backend = conveyor.connect(namespaced(deployment.url))
        assert watching() == before + 1, "a thread for a Sentinel URL, none for a redis:// one"
        wait_until(lambda: own_connections(sentinel, subscribed=True) == subscribed + 1, message="the subscription")
        backend.close()
        assert watching() == before, "closing the backend ends its thread"
        wait_until(lambda: own_connections(sentinel, subscribed=True) == subscribed, message="the subscription closed")


def watch_address(watch: Any) -> tuple[str, int]:
    """The local address of the connection a switch watch listens on, and its Sentinel's port."""

    def listening() -> Any:
        connection = watch._listening
        return connection if connection is not None and connection._sock is not None else None

    connection = wait_until(listening, message="the watch's connection")
    return "{}:{}".format(*connection._sock.getsockname()[:2]), connection.port


def test_a_sentinel_backend_dropped_without_close_ends_its_watch(deployment: SentinelDeployment) -> None:
    """A web app connecting in each request and never closing: each backend, once
    collected, ends its thread and its subscription (the watch holds it only weakly)."""
    backend = conveyor.connect(namespaced(deployment.url))
    thread = backend._switch_watch._thread  # type: ignore[attr-defined]
    # its own connection, by address: other tests' watches in this process come and go
    # meanwhile, and a watch listens to whichever Sentinel takes it
    address, port = watch_address(backend._switch_watch)  # type: ignore[attr-defined]
    with sentinel_client(port) as sentinel:

        def subscribed() -> bool:
            return any(client["addr"] == address and int(client["sub"]) > 0 for client in sentinel.client_list())

        wait_until(subscribed, message="the subscription")
        del backend
        gc.collect()
        wait_until(lambda: not thread.is_alive(), message="the watch's thread to end")
        wait_until(lambda: not subscribed(), message="the subscription closed")


def test_a_forked_child_watches_in_a_thread_of_its_own_and_leaves_the_parents_sockets_alone(
    deployment: SentinelDeployment,
) -> None:
    """A child forked while the parent's watch held its lock (as while it connects to a
    Sentinel) gets a watch of its own and closes its backend at once; neither a switch
    it hears nor its close cuts the parent's connections, whose sockets it shares."""
    backend = conveyor.connect(namespaced(deployment.url))
    watch = backend._switch_watch  # type: ignore[attr-defined]
    try:
        backend.counts()  # (a connection of the pool, idle)
        pooled = backend._redis.connection_pool._available_connections  # type: ignore[attr-defined]
        listening = wait_until(lambda: watch._listening, message="the parent's subscription")
        reader, writer = os.pipe()
        with watch._lock:
            pid = os.fork()
        if pid == 0:  # the child: report whether it watches and could close, then leave at once
            try:
                wait_until(lambda: any(thread.name == THREAD_NAME for thread in threading.enumerate()), timeout=5,
                           message="the child's watch")  # fmt: skip
                backend._primary_switched(("192.0.2.1", 6379))  # type: ignore[attr-defined]  # (as its watch hears one)
                backend.close()
                os.write(writer, b"watched and closed")
            finally:
                os._exit(0)
        os.close(writer)
        try:
            wait_until(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, timeout=20, message="the child to end")
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        with os.fdopen(reader, "rb") as pipe:
            assert pipe.read() == b"watched and closed"
        assert watch._listening is listening and not_at_end(listening._sock), "the parent's subscription is whole"
        assert pooled and all(not_at_end(connection._sock) for connection in pooled), "the parent's pool is whole"
    finally:
        backend.close()


def not_at_end(sock: socket.socket) -> bool:
    """Whether the socket has not been shut down: nothing to read yet, or something."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable or sock.recv(1, socket.MSG_PEEK) != b""


def test_a_failover_is_followed_by_idle_and_busy_workers_and_an_event_reader(
    deployment: SentinelDeployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = namespaced(deployment.url)
    backend = conveyor.connect(url)
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    held = Queue("held", connection=backend).enqueue(jobfuncs.record_run, str(ledger), "held", str(release))
    busy = start_worker(url, ("held",), pool="processes")  # (its job's process connects with the URL too)
    idle = start_worker(url, ("default",))
    reader = EventReader(backend)
    try:
        wait_until(ledger.exists, message="the held job to start")
        wait_until(lambda: "Redis Sentinel: the primary" in worker_log(idle), message="the idle worker up")
        with caplog.at_level(logging.WARNING, logger="conveyor.backends.redis"):
            old, new = deployment.fail_over()
            after = [Queue(connection=backend).enqueue(jobfuncs.add, i, 1) for i in range(10)]
        release.touch()
        wait_until(lambda: all(j.get_status() is JobStatus.FINISHED for j in after), timeout=60,
                   message="the jobs enqueued after the failover")  # fmt: skip
        wait_until(lambda: held.get_status() is JobStatus.FINISHED, timeout=60, message="the held job's result")
        wait_until(lambda: {j.id for j in after} <= reader.seen, timeout=30, message="the reader to see them")
        logs = worker_log(busy), worker_log(idle)
    finally:
        release.touch()
        reader.stop()
        stop_processes(busy, idle)
        backend.close()
    moved = f"moved from 127.0.0.1:{deployment.address(old)} to 127.0.0.1:{deployment.address(new)} (a failover)"
    assert all(moved in log for log in logs), "each worker says it follows the new primary"
    assert moved in caplog.text, "so does the enqueuer"
    assert "read-only replica" not in "".join(logs) + caplog.text
    assert [j.result for j in after] == [i + 1 for i in range(10)]
    assert held.result == "held"
    assert len(ledger.read_text().splitlines()) == 1, "the held job ran once"
    with node_client(new) as client:
        assert client.info("replication")["role"] == "master"


class EventReader:
    """What the REST layer's event hub does: blocking reads of the job events, in a thread,
    retried after an outage."""

    def __init__(self, backend: conveyor.backends.base.Backend) -> None:
        self.backend = backend
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cursor = self.backend.events_read(None, 0, 0.0)[0]
        while not self._stop.is_set():
            try:
                cursor, events = self.backend.events_read(cursor, 100, 1.0)
            except BackendUnavailableError:
                continue
            self.seen.update(event.job_id for event in events)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_primary_turned_replica_under_its_clients_is_an_outage_not_a_read_only_error(tmp_path: Path) -> None:
    deployment = SentinelDeployment(tmp_path).start()  # (of its own: its primary is left a replica)
    backend = conveyor.connect(namespaced(deployment.url))
    try:
        queue = Queue(connection=backend)
        queue.enqueue(jobfuncs.noop)
        queued = backend.jobs_count(None, [JobStatus.QUEUED])  # (plain commands: a pooled connection)
        with node_client(deployment.nodes[0]) as primary:  # demoted, its clients left connected (no Sentinel)
            primary.replicaof("127.0.0.1", free_port())
        with pytest.raises(BackendUnavailableError, match="previous master is now a slave"):
            queue.enqueue(jobfuncs.noop)
        with pytest.raises(BackendUnavailableError, match="previous master is now a slave"):
            backend.workers_unregister("w")
        assert backend.jobs_count(None, [JobStatus.QUEUED]) == queued == 1, "reads go on"
    finally:
        backend.close()
        deployment.stop()


def test_rediss_sentinel_speaks_tls_to_the_sentinels_and_the_nodes(tmp_path: Path) -> None:
    deployment = SentinelDeployment(tmp_path, tls_cert=self_signed_certificate(tmp_path))
    try:
        deployment.start()  # its URL names the TLS ports only, of the Sentinels; they name the nodes' TLS ports
        assert deployment.url.startswith("rediss+sentinel://")
        backend = conveyor.connect(namespaced(deployment.url))
        try:
            queue = Queue(connection=backend)
            job = queue.enqueue(jobfuncs.add, 2, 2)
            Worker([queue]).work(burst=True)
            assert (job.get_status(), job.result) == (JobStatus.FINISHED, 4)
        finally:
            backend.close()
    finally:
        deployment.stop()


def test_a_service_the_sentinels_do_not_monitor_is_a_clear_error(deployment: SentinelDeployment) -> None:
    url = deployment.url.replace(f"/{SERVICE}/", "/nosuchservice/")
    with pytest.raises(BackendUnavailableError, match="monitor no service named 'nosuchservice'") as raised:
        conveyor.connect(url)
    assert f"they monitor: '{SERVICE}'" in str(raised.value)
    assert masked_url(url) in str(raised.value)
    assert NODE_PASSWORD not in str(raised.value) and SENTINEL_PASSWORD not in str(raised.value)


def test_no_sentinel_answering_is_a_clear_error() -> None:
    url = f"redis+sentinel://:secret@127.0.0.1:{free_port()},127.0.0.1:{free_port()}/{SERVICE}?sentinel_password=s2"
    with pytest.raises(BackendUnavailableError, match="no Sentinel of .* answered") as raised:
        conveyor.connect(url)
    assert "secret" not in str(raised.value) and "s2" not in str(raised.value)


def test_the_sentinels_password_is_their_own(deployment: SentinelDeployment) -> None:
    wrong = deployment.url.replace(f"sentinel_password={SENTINEL_PASSWORD}", f"sentinel_password={NODE_PASSWORD}")
    with pytest.raises(BackendUnavailableError, match="no Sentinel of .* answered") as raised:
        conveyor.connect(wrong)
    assert NODE_PASSWORD not in str(raised.value)
    wrong = deployment.url.replace(f":{NODE_PASSWORD}@", f":{SENTINEL_PASSWORD}@")
    with pytest.raises(BackendUnavailableError, match="refused the credentials"):
        conveyor.connect(wrong)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://127.0.0.1:26379", "names no service"),
        ("redis+sentinel://127.0.0.1:26379/", "names no service"),
        ("redis+sentinel://127.0.0.1:26379,127.0.0.1:99999/mymaster", "got '127.0.0.1:99999'"),
        ("redis+sentinel://127.0.0.1:port/mymaster", "host:port separated by commas"),
        ("redis+sentinel://127.0.0.1,,127.0.0.2/mymaster", "got ''"),
        ("redis+sentinel://127.0.0.1/mymaster/zero", "/SERVICE or /SERVICE/DB"),
        ("redis+sentinel://127.0.0.1/mymaster/0/1", "/SERVICE or /SERVICE/DB"),
        ("redis+sentinel://127.0.0.1/mymaster/1?db=2", "names its database twice"),
        ("redis+sentinel://127.0.0.1/mymaster?socket_timeout=soon", "invalid Redis URL"),
        ("redis+sentinel://127.0.0.1/mymaster?prefix=a&prefix=b", "gives prefix more than once"),
        ("sentinel://127.0.0.1:26379", r"redis\+sentinel://host1:26379,host2:26379/SERVICE"),
    ],
)
def test_a_malformed_sentinel_url_is_a_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        conveyor.connect(url)


def test_passwords_in_a_sentinel_url_are_masked() -> None:
    url = "redis+sentinel://user:p4ss@h1:26379,h2:26379,[::1]:26380/mymaster/0?sentinel_password=s3nt&socket_timeout=5"
    assert masked_url(url) == (
        "redis+sentinel://user:***@h1:26379,h2:26379,[::1]:26380/mymaster/0?sentinel_password=***&socket_timeout=5"
    )
    with pytest.raises(ConfigurationError) as raised:
        conveyor.connect(url.replace("/mymaster/0", "/mymaster/x"))
    assert "p4ss" not in str(raised.value) and "s3nt" not in str(raised.value)


def test_the_watch_outlives_an_error_of_its_own_and_subscribes_again(
    deployment: SentinelDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    # a bug of ours, or a redis-py release that changed what the watch uses, must not end
    # the thread quietly: failovers would then be followed only at the old primary's demotion
    calls: list[tuple[str, int]] = []

    def switched(primary: tuple[str, int]) -> None:
        calls.append(primary)
        if len(calls) == 1:
            raise RuntimeError("a bug in following the switch")

    sentinels = FollowingSentinel(
        [("127.0.0.1", port) for port in deployment.sentinel_ports],
        "sentinels",
        sentinel_kwargs={"password": SENTINEL_PASSWORD},
        password=NODE_PASSWORD,
    )
    with caplog.at_level(logging.ERROR, logger="conveyor.backends.redis"):
        watch = SwitchWatch(sentinels, SERVICE, switched)
        try:
            wait_until(lambda: len(calls) >= 2, message="the watch to subscribe again after its error")
            assert watch._thread.is_alive()  # type: ignore[attr-defined]
        finally:
            watch.close()
    assert "the watch for a new primary failed" in caplog.text and "a bug in following the switch" in caplog.text
