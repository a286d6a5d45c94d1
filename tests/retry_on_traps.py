"""Modules' ways to fail when a worker imports a name of ``Retry(on=...)`` (tests)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """A lazy attribute whose optional dependency is missing, as libraries that load
    their submodules on first use raise it: not an AttributeError."""
    raise ModuleNotFoundError(f"{name} needs the optional package 'absent_extra'", name="absent_extra")
