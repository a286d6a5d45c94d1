"""Debian's Chromium for Playwright: installed with apt when missing (Playwright's own
browser download cannot be used), launched headless without the sandbox (tests run as root)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_SECONDS = 900
LOCK = Path(tempfile.gettempdir()) / "conveyor-tests-apt.lock"


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    # Wait for dpkg's lock rather than fail when another install (redis-server) is running.
    command = ["apt-get", "-o", f"DPkg::Lock::Timeout={INSTALL_SECONDS // 2}", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=INSTALL_SECONDS)


def chromium_binary() -> str:
    """The path of Chromium, installing Debian's package first if it is not there.

    Test processes running side by side (xdist) take turns on a file lock, so only the
    first one installs. Raises RuntimeError with apt's own words when the install fails.
    """
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CHROMIUM.exists():
            return str(CHROMIUM)
        result = _apt("install", "-y", "-q", "chromium")
        if result.returncode != 0 or not CHROMIUM.exists():
            _apt("update", "-q")
            result = _apt("install", "-y", "-q", "chromium")
    if result.returncode != 0 or not CHROMIUM.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise RuntimeError("could not install Debian's chromium with apt-get:\n" + "\n".join(tail))
    return str(CHROMIUM)
