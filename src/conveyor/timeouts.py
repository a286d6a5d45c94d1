"""``from rq.timeouts import JobTimeoutException``, RQ's import path for the error a job
sees when it runs past its timeout, works here with ``conveyor`` for ``rq``."""

from conveyor.exceptions import JobTimeoutException

__all__ = ["JobTimeoutException"]
