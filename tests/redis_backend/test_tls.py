"""rediss:// against a real TLS-serving redis-server, and against a plain port by mistake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Queue
from conveyor.exceptions import BackendUnavailableError
from redis_server import RedisServer, free_port, self_signed_certificate


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, int, Path]]:
    """A redis-server serving TLS only, with a self-signed certificate (its own CA file)."""
    directory = tmp_path_factory.mktemp("tls")
    cert = self_signed_certificate(directory)
    key = cert.with_suffix(".key")
    tls_port = free_port()
    server = RedisServer(
        directory,
        options=("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                 "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"),
    )  # fmt: skip
    server.start()
    yield server, tls_port, cert
    server.stop()


def test_rediss_reaches_a_tls_redis_and_stores_jobs(tls_server: tuple[RedisServer, int, Path]) -> None:
    server, tls_port, cert = tls_server
    backend = conveyor.connect(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}&prefix=tls")
    try:
        job = Queue(connection=backend).enqueue(jobfuncs.noop)
        assert conveyor.Job.fetch(job.id, connection=backend).get_status() == "queued"
    finally:
        backend.close()
    plain = conveyor.connect(f"{server.url}?prefix=tls")  # the same data, seen over the plain port
    try:
        assert conveyor.Job.fetch(job.id, connection=plain).id == job.id
    finally:
        plain.close()


def test_rediss_to_a_plain_port_fails_within_the_connect_timeout(tls_server: tuple[RedisServer, int, Path]) -> None:
    server, _, _ = tls_server
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as raised:
        conveyor.connect(f"rediss://127.0.0.1:{server.port}/0?socket_connect_timeout=0.5")
    assert "does that port serve TLS?" in str(raised.value)
    assert time.monotonic() - began < 20  # not the minute-long read timeout it once waited
