"""Workers: claim jobs, run them (sync, threaded or async), settle their outcome."""

from .worker import SimpleWorker, Worker

__all__ = ["SimpleWorker", "Worker"]
