"""Workers: claim jobs, run them (sync, threaded or async), settle their outcome."""

from .worker import Worker

__all__ = ["Worker"]
