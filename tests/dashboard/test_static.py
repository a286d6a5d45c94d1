"""The dashboard's files on their own: every module they import is there, and nothing
is loaded from another site (it must work offline, with no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import conveyor.dashboard

STATIC = Path(conveyor.dashboard.__file__).parent / "static"
IMPORT = re.compile(r"""(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}/[^"']+)["']""")
ALLOWED_URLS = {"http://www.w3.org/2000/svg"}


def test_every_imported_module_exists() -> None:
    modules = sorted(STATIC.rglob("*.js"))
    assert (STATIC / "js" / "app.js") in modules
    for module in modules:
        for target in IMPORT.findall(module.read_text()):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports missing {target}"


def test_index_loads_only_local_files() -> None:
    index = (STATIC / "index.html").read_text()
    for reference in re.findall(r'(?:src|href)="([^"#][^"]*)"', index):
        if reference.startswith("data:"):
            continue
        assert (STATIC / reference).is_file(), reference


def test_nothing_comes_from_another_site() -> None:
    for path in STATIC.rglob("*"):
        if path.suffix in {".js", ".css", ".html"}:
            urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text())) - ALLOWED_URLS
            assert not urls, f"{path.name} refers to {urls}"
