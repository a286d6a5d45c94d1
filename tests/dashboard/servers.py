"""A real ``conveyor serve`` (the REST API and the dashboard) in a subprocess, on a free port."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cli.conftest import conveyor_cmd, subprocess_env
from redis_server import free_port


class ApiServer:
    """``conveyor``'s app on ``url`` at ``base``; ``api_keys`` like CONVEYOR_API_KEYS,
    ``env`` more settings (CONVEYOR_...) for the server process."""

    def __init__(self, url: str, *, api_keys: str = "", env: dict[str, str] | None = None) -> None:
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_keys = api_keys
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="conveyor-server-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> ApiServer:
        env = subprocess_env(CONVEYOR_API_KEYS=self.api_keys, **self.env)
        command = conveyor_cmd("serve", "-u", self.url, "--port", str(self.port), "--log-level", "warning")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def get(self, path: str, key: str | None = None) -> object:
        request = urllib.request.Request(f"{self.base}{path}")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)
