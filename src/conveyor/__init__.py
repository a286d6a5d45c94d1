"""conveyor: background jobs for Python, with an RQ-compatible API.

import conveyor
from conveyor import Queue

q = Queue(connection=conveyor.connect())   # ./conveyor.db unless CONVEYOR_URL says otherwise
job = q.enqueue(count_words_at_url, "http://nvie.com")
"""

from typing import TYPE_CHECKING

from conveyor._version import __version__
from conveyor.batch import Batch
from conveyor.callbacks import Callback
from conveyor.command import cancel_job, requeue_job, send_shutdown_command, send_stop_job_command
from conveyor.connection import connect
from conveyor.dependency import Dependency
from conveyor.exceptions import (
    ConveyorError,
    InvalidBatchOperation,
    InvalidJobError,
    InvalidJobIdError,
    InvalidJobOperation,
    JobIdInUseError,
    JobStopRequested,
    JobTimeoutException,
    NoSuchBatchError,
    NoSuchJobError,
    NoSuchWorkerError,
    ReadOnlyStoreError,
    StatusError,
)
from conveyor.functions import job_type
from conveyor.job import Job, get_current_job
from conveyor.queue import Queue
from conveyor.results import Result
from conveyor.retry import FailJob, Retry, RetryJob, SnoozeJob
from conveyor.rq_absent import module_attribute
from conveyor.status import BatchStatus, JobStatus
from conveyor.worker import SimpleWorker, Worker

__all__ = [
    "Batch",
    "BatchStatus",
    "Callback",
    "ConveyorError",
    "Dependency",
    "FailJob",
    "InvalidBatchOperation",
    "InvalidJobError",
    "InvalidJobIdError",
    "InvalidJobOperation",
    "Job",
    "JobIdInUseError",
    "JobStatus",
    "JobStopRequested",
    "JobTimeoutException",
    "NoSuchBatchError",
    "NoSuchJobError",
    "NoSuchWorkerError",
    "Queue",
    "ReadOnlyStoreError",
    "Result",
    "Retry",
    "RetryJob",
    "SimpleWorker",
    "SnoozeJob",
    "StatusError",
    "Worker",
    "__version__",
    "cancel_job",
    "connect",
    "get_current_job",
    "job_type",
    "requeue_job",
    "send_shutdown_command",
    "send_stop_job_command",
]

if not TYPE_CHECKING:  # type checkers keep flagging unknown names

    def __getattr__(name: str) -> object:
        """RQ's names conveyor lacks (``Repeat``, ``Group``...): refused saying what to use."""
        module_attribute(__name__, name)
