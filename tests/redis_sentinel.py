"""A private Redis Sentinel deployment for the tests: a primary, one replica and Sentinels
watching them (``redis-server <conf> --sentinel``), each on a free port, killed by pid;
the data nodes and the Sentinels each with a password of their own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from redis_server import RedisServer, free_port, redis_binary
from waiting import wait_until

SERVICE = "mymaster"
NODE_PASSWORD, SENTINEL_PASSWORD = "node-secret", "sentinel-secret"


class SentinelDeployment:
    """``nodes`` (the primary first, then the replica) and ``sentinels`` (ports); ``url``
    names the Sentinels (after an address where none listens: clients try the next) and
    the service, with both passwords. Given a certificate (its key beside it, .key), every
    node and Sentinel serves TLS too, replicates and is watched over it, and ``url`` is a
    rediss+sentinel:// URL to the TLS ports; tests administer them on the plain ports."""

    def __init__(self, directory: Path, *, sentinels: int = 1, tls_cert: Path | None = None) -> None:
        self.directory = directory
        self.tls_cert = tls_cert
        self.nodes: list[RedisServer] = []
        self.tls_ports: dict[int, int] = {}  # a node's or a Sentinel's plain port: its TLS port
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels: list[subprocess.Popen[bytes]] = []
        hosts = ",".join(f"127.0.0.1:{self._tls_port(port)}" for port in [free_port(), *self.sentinel_ports])
        scheme, query = "redis+sentinel", f"sentinel_password={SENTINEL_PASSWORD}"
        if tls_cert is not None:
            scheme, query = "rediss+sentinel", f"{query}&ssl_ca_certs={tls_cert}"
        self.url = f"{scheme}://:{NODE_PASSWORD}@{hosts}/{SERVICE}/0?{query}"

    def _tls_port(self, port: int) -> int:
        """Where clients reach what listens on ``port``: its TLS port, if TLS is on."""
        if self.tls_cert is None:
            return port
        return self.tls_ports.setdefault(port, free_port())

    def address(self, node: RedisServer) -> int:
        """The port the Sentinels name the node by."""
        return self._tls_port(node.port)

    def _tls_options(self, port: int) -> tuple[str, ...]:
        if self.tls_cert is None:
            return ()
        return ("--tls-port", str(self._tls_port(port)), "--tls-cert-file", str(self.tls_cert),
                "--tls-key-file", str(self.tls_cert.with_suffix(".key")), "--tls-ca-cert-file", str(self.tls_cert),
                "--tls-auth-clients", "no", "--tls-replication", "yes")  # fmt: skip

    def start(self) -> SentinelDeployment:
        for name in ("primary", "replica"):
            (self.directory / name).mkdir()
        # (diskless syncs start at once, not after the default 5 s for more replicas to join)
        options = ("--requirepass", NODE_PASSWORD, "--masterauth", NODE_PASSWORD, "--repl-diskless-sync-delay", "0")
        primary, replica = (RedisServer(self.directory / name, options=options) for name in ("primary", "replica"))
        replica.options += ("--replicaof", "127.0.0.1", str(self.address(primary)))
        for node in (primary, replica):
            node.options += self._tls_options(node.port)
            self.nodes.append(node)  # (stopped by stop() though it failed to start)
            node.start()
        with node_client(replica) as client:
            wait_until(lambda: client.info("replication")["master_link_status"] == "up", message="the replica")
        for port in self.sentinel_ports:
            self._start_sentinel(port, self.address(primary))
        return self

    def _start_sentinel(self, port: int, primary_port: int) -> None:
        config = self.directory / f"sentinel-{port}.conf"  # a Sentinel rewrites its config: writable
        quorum = len(self.sentinel_ports) // 2 + 1
        tls = self._tls_options(port)
        config.write_text(
            "".join(f"{tls[i][2:]} {tls[i + 1]}\n" for i in range(0, len(tls), 2))
            + f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} {quorum}\n"
            f"sentinel auth-pass {SERVICE} {NODE_PASSWORD}\nrequirepass {SENTINEL_PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} 5000\nsentinel failover-timeout {SERVICE} 30000\n"
        )
        process = subprocess.Popen(
            [redis_binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.sentinels.append(process)
        with sentinel_client(port, socket_connect_timeout=0.2) as client:
            wait_until(lambda: _answers(client), message=f"the Sentinel on {port} to start")

    def _knows_the_replica(self, port: int, replica_node: RedisServer) -> bool:
        """The Sentinel has read the replica's INFO lately."""
        replica = self.address(replica_node)
        with sentinel_client(port, decode_responses=True) as client:
            found = [r for r in client.sentinel_slaves(SERVICE) if int(r["port"]) == replica]
        return bool(found) and found[0]["flags"] == "slave" and int(found[0]["info-refresh"]) < 10_000

    def primary_port(self) -> int:
        with sentinel_client(self.sentinel_ports[0]) as client:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])

    def fail_over(self) -> tuple[RedisServer, RedisServer]:
        """Promote the replica once it has everything the primary has, and wait until the
        Sentinels have demoted the old primary to its replica: the (old, new) primary."""
        old, new = self.start_failover()
        self.finish_failover(old, new)
        return old, new

    def start_failover(self) -> tuple[RedisServer, RedisServer]:
        """Have the Sentinels promote the replica once it has everything the primary has,
        and return at once: the (old, new) primary."""
        old, new = self.nodes if self.address(self.nodes[0]) == self.primary_port() else self.nodes[::-1]
        for port in self.sentinel_ports:  # (a Sentinel promotes no replica it has not read lately)
            wait_until(lambda port=port: self._knows_the_replica(port, new), message=f"the Sentinel on {port}")
        with node_client(old) as before, node_client(new) as after:
            offset = before.info("replication")["master_repl_offset"]
            wait_until(lambda: after.info("replication")["slave_repl_offset"] >= offset, message="the replica to sync")
        with sentinel_client(self.sentinel_ports[0]) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        return old, new

    def finish_failover(self, old: RedisServer, new: RedisServer) -> None:
        """Wait until the Sentinels name the new primary and have demoted the old one."""
        wait_until(lambda: self.primary_port() == self.address(new), timeout=60, message="the Sentinels to switch")
        with node_client(old) as before:
            wait_until(
                lambda: before.info("replication")["role"] == "slave", timeout=60, message="the old primary demoted"
            )

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        for node in self.nodes:
            node.stop()


def node_client(node: RedisServer) -> redis.Redis:
    return redis.Redis(port=node.port, password=NODE_PASSWORD)


def sentinel_client(port: int, **options: object) -> redis.Redis:
    return redis.Redis(port=port, password=SENTINEL_PASSWORD, **options)  # type: ignore[arg-type]


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
