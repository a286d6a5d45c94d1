"""Conveyor's log records on stderr, for a command or a worker's run only."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@contextlib.contextmanager
def log_to_stderr(level: str | int, fmt: str | None = None, datefmt: str | None = None) -> Iterator[None]:
    """Send conveyor's log records to stderr for the duration only, so that running
    commands or workers one after another in one process (tests, embedding) never
    stacks handlers."""
    logger = logging.getLogger("conveyor")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt or LOG_FORMAT, datefmt))
    previous = logger.level
    logger.setLevel(level.upper() if isinstance(level, str) else level)  # an unknown level raises here
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
