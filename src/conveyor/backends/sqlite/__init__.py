"""The embedded SQLite backend (the zero-setup default)."""

from .backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
