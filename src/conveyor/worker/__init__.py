"""Workers: claim jobs, run them (sync, threaded or async), settle their outcome."""

from typing import TYPE_CHECKING

from conveyor.rq_absent import module_attribute

from .worker import SimpleWorker, Worker

__all__ = ["SimpleWorker", "Worker"]

if not TYPE_CHECKING:  # type checkers keep flagging unknown names

    def __getattr__(name: str) -> object:
        """RQ's other worker classes: refused saying what to use."""
        module_attribute(__name__, name)
