"""Debian's Chromium for Playwright: installed with apt when missing (Playwright's own
browser download cannot be used), launched headless without the sandbox (tests run as root)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", *args], check=False, capture_output=True, text=True, timeout=900)


def chromium_binary() -> str:
    """The path of Chromium, installing Debian's package first if it is not there.

    Raises RuntimeError with apt's own words when the install fails.
    """
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium")
    result = _apt("install", "-y", "-q", "chromium")
    if result.returncode != 0 or not CHROMIUM.exists():
        _apt("update", "-q")
        result = _apt("install", "-y", "-q", "chromium")
    if result.returncode != 0 or not CHROMIUM.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise RuntimeError("could not install Debian's chromium with apt-get:\n" + "\n".join(tail))
    return str(CHROMIUM)
