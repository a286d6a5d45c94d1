"""A private redis-server for the tests: on a free port, nothing saved, killed by pid.

Installed with apt (Debian's redis-server) when the binary is missing, so the suite
runs on a machine with no Redis at all.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=False, capture_output=True)
    found = shutil.which("redis-server")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True, capture_output=True)
        found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is missing and could not be installed with apt-get")
    return found


def self_signed_certificate(directory: Path) -> Path:
    """``redis.crt`` (for 127.0.0.1; its own CA file) and its key ``redis.key``, made in ``directory``."""
    found = shutil.which("openssl")
    if not found:
        subprocess.run(["apt-get", "install", "-y", "-q", "openssl"], check=True, capture_output=True)
        found = shutil.which("openssl")
    assert found, "openssl is missing and could not be installed with apt-get"
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        [found, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; ``url`` to reach it; ``stop``/``start`` to restart it."""

    def __init__(self, directory: Path, *, appendonly: bool = False, options: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.directory = directory
        self.appendonly = appendonly
        self.options = options
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
            "--dir", str(self.directory), *self.options,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # (answers: with a password)
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def redis_contents(url: str) -> dict[bytes, bytes]:
    """Every key of the store's prefix with its value, serialized (DUMP)."""
    prefix = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))["prefix"]
    client = redis.Redis.from_url(url.split("?", 1)[0])
    try:
        return {key: client.dump(key) for key in client.scan_iter(match=f"{{{prefix}}}*")}
    finally:
        client.close()


def delete_namespace(server_url: str, prefix: str) -> None:
    """Delete every key of the namespace ``prefix`` (its keys share the hash tag ``{prefix}``).

    Tests share one redis-server per test process and keep apart by prefix; a namespace
    left behind costs every later whole-keyspace SCAN (the doctor's, for one) its keys:
    a test that leaves 160,000 jobs makes each later doctor check take seconds."""
    client = redis.Redis.from_url(server_url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{{{prefix}}}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    finally:
        client.close()
