"""The command that adds an optional extra to this very installation, for the errors
that name a missing one: from PyPI for an installed release, and from its checkout for
a project installed from one with ``pip install -e`` (where the PyPI name would fetch
another copy, or nothing before a release)."""

from __future__ import annotations

import json
import shlex
from urllib.parse import unquote, urlparse


def install_command(extra: str) -> str:
    """``pip install ...`` that adds ``extra`` to the installed conveyor."""
    from importlib import metadata  # here, for errors alone: it costs every process start a tenth

    try:
        direct_url = metadata.distribution("conveyor").read_text("direct_url.json")
    except metadata.PackageNotFoundError:  # run from a source tree on sys.path
        direct_url = None
    return command_for(extra, direct_url)


def command_for(extra: str, direct_url: str | None) -> str:
    """The command for a distribution whose PEP 610 ``direct_url.json`` is ``direct_url``."""
    try:
        origin = json.loads(direct_url) if direct_url else {}
    except ValueError:
        origin = {}
    url = origin.get("url", "") if isinstance(origin, dict) else ""
    editable = isinstance(origin, dict) and (origin.get("dir_info") or {}).get("editable") is True
    if editable and url.startswith("file://"):
        return f"pip install -e {shlex.quote(f'{unquote(urlparse(url).path)}[{extra}]')}"
    return f'pip install "conveyor[{extra}]"'
