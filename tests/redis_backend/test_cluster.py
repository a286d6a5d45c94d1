"""A Redis Cluster: a namespace lives in one slot, served by one node, which the URL need
not name; conveyor follows the node serving it (MOVED), and after that node fails asks the
URL's node again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import conveyor
import jobfuncs
from conveyor import JobStatus, Queue
from conveyor.exceptions import BackendUnavailableError, ConfigurationError
from redis_server import RedisServer, free_port
from waiting import wait_until

from .round_trip import run_one_job

OPTIONS = ("--cluster-enabled", "yes", "--cluster-require-full-coverage", "no")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """Two primaries: the first serves slots 0-8191 ({conveyor}), the second the rest ({a})."""
    nodes, buses = [], [free_port(), free_port()]  # else port + 10000: past 65535 for a high port
    for name, bus in zip(("one", "two"), buses, strict=True):
        (tmp_path / name).mkdir()
        nodes.append(RedisServer(tmp_path / name, options=(*OPTIONS, "--cluster-port", str(bus))).start())
    one, two = (redis.Redis(port=node.port) for node in nodes)
    try:
        one.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 8191)
        two.execute_command("CLUSTER", "ADDSLOTSRANGE", 8192, 16383)
        one.execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[1].port, buses[1])
        wait_until(lambda: all(n.cluster("info")["cluster_state"] == "ok" for n in (one, two)), message="the cluster")
        wait_until(lambda: len(one.cluster("nodes")) == 2 == len(two.cluster("nodes")), message="the nodes to meet")
        yield nodes[0], nodes[1]
    finally:
        one.close()
        two.close()
        for node in nodes:
            node.stop()


def test_a_namespace_served_by_another_node_than_the_urls_is_followed_there(
    cluster: tuple[RedisServer, RedisServer],
) -> None:
    seed, serving = cluster
    with redis.Redis(port=seed.port) as admin:
        assert admin.cluster("keyslot", "{a}") > 8191, "served by the second node"
    backend = conveyor.connect(f"{seed.url}?prefix=a")
    try:
        job = run_one_job(backend)
        queue = Queue(connection=backend)
        with redis.Redis(port=serving.port) as node:
            assert node.exists(backend.keys.job(job.id))

        # the second node fails; its slots go to the first (a failover to it, as it were)
        serving.stop()
        with redis.Redis(port=seed.port) as admin:
            admin.execute_command("CLUSTER", "SETSLOT", admin.cluster("keyslot", "{a}"), "NODE", admin.cluster("myid"))
        with pytest.raises(BackendUnavailableError):
            queue.enqueue(jobfuncs.add, 1, 2)
        assert queue.enqueue(jobfuncs.add, 2, 2).get_status() is JobStatus.QUEUED  # the URL's node again
    finally:
        backend.close()


def test_a_cluster_has_only_database_0(cluster: tuple[RedisServer, RedisServer]) -> None:
    with pytest.raises(ConfigurationError, match="Redis Cluster node: use database 0"):
        conveyor.connect(cluster[0].url.replace("/0", "/1"))
