"""The exceptions conveyor raises, in one hierarchy.

ConveyorError
├── ConfigurationError          bad URL, missing extra, unusable database path
├── ReadOnlyStoreError          a write to a store opened with read_only=True
├── BackendError                the store failed (busy past all retries, gone)
│   └── BackendUnavailableError also a ConnectionError: the store cannot be reached
├── NoSuchJobError              also a KeyError: unknown job id
├── StatusError                 the status of a job or batch does not allow it
│   ├── JobIdInUseError         a live job already has this id
│   ├── InvalidJobOperation     the job's status does not allow the change
│   └── InvalidBatchOperation   the batch's status does not allow the change
├── NoSuchBatchError            also a KeyError: unknown batch id
├── NotInConveyorError          also an AttributeError: an RQ attribute conveyor lacks
├── NotInConveyorImportError    also an ImportError: an RQ name a module lacks
├── InvalidJobError             the job cannot be built: not importable, bad options
│   ├── InvalidJobIdError       a given job id breaks the job-id rule (conveyor.ids)
│   └── SerializationError      an argument, result or meta the serializer rejects
└── JobInterrupted              raised inside a running job (BaseException subclass
    ├── JobTimeoutException     so that a job's own ``except Exception`` does not
    └── JobStopRequested        swallow it)
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Base class of every error conveyor raises on purpose."""


class ConfigurationError(ConveyorError):
    """A setting, URL or environment that conveyor cannot work with."""


class ReadOnlyStoreError(ConveyorError):
    """A write was tried on a store opened read-only (``connect(url, read_only=True)``)."""


class BackendError(ConveyorError):
    """The storage backend failed to carry out an operation."""


class BackendUnavailableError(BackendError, ConnectionError):
    """The storage backend cannot be reached or opened."""


class NoSuchJobError(ConveyorError, KeyError):
    """No job with this id exists (it never did, or it was deleted or expired)."""

    def __init__(self, job_id: str, where: str = "") -> None:
        super().__init__(f"Job {job_id} not found{where}")
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


STATUS_MARK = "\x1f"
"""Where a StatusError's wording names the status. No id, queue name or status holds a
control character, so the status alone is put there, in whichever words are wanted."""


class StatusError(ConveyorError):
    """The current status of a job or batch does not allow the operation.

    ``str()`` names the status in the library's words (``queued``); ``reworded`` names it
    as another layer does (the REST API says ``pending``), so that layer maps every
    status error in one place rather than rewriting messages.
    """

    def __init__(self, status: str, wording: str) -> None:
        super().__init__(wording.replace(STATUS_MARK, status))
        self.status = status
        self.wording = wording

    def reworded(self, status_name: str) -> str:
        """The message with ``status_name`` where it names the status."""
        return self.wording.replace(STATUS_MARK, status_name)


class JobIdInUseError(StatusError):
    """Enqueueing would reuse the id of a job that has not reached a terminal status."""

    def __init__(self, job_id: str, status: str, still_stopping: bool = False) -> None:
        stopping = " still stopping on its worker" if still_stopping else ""
        super().__init__(status, f"Job id {job_id!r} is already used by a {STATUS_MARK} job{stopping}")
        self.job_id = job_id
        self.still_stopping = still_stopping  # canceled while it ran, and its worker has not stopped it yet


class InvalidJobOperation(StatusError):
    """The job's current status does not allow the requested change (``message`` names
    the status with STATUS_MARK)."""

    def __init__(self, job_id: str, status: str, message: str) -> None:
        super().__init__(status, message)
        self.job_id = job_id


class NoSuchBatchError(ConveyorError, KeyError):
    """No batch with this id exists."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"Batch {batch_id} not found")
        self.batch_id = batch_id

    def __str__(self) -> str:
        return str(self.args[0])


class NoSuchWorkerError(ConveyorError, KeyError):
    """No worker with this name is registered (it stopped, or was reaped as silent)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Worker {name} is not registered")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidBatchOperation(StatusError):
    """The batch's current status does not allow the requested change (``message`` names
    the status with STATUS_MARK)."""

    def __init__(self, batch_id: str, status: str, message: str) -> None:
        super().__init__(status, message)
        self.batch_id = batch_id

    @classmethod
    def already(cls, action: str, batch_id: str, status: str) -> InvalidBatchOperation:
        """``action`` refused because the batch is already ``status``."""
        return cls(batch_id, status, f"Cannot {action} batch {batch_id}: it is already {STATUS_MARK}")


class NotInConveyorError(ConveyorError, AttributeError):
    """An attribute RQ has and conveyor does not (``job.key``): the message says what to
    use instead. An AttributeError, so that ``hasattr`` still answers False."""


class NotInConveyorImportError(ConveyorError, ImportError):
    """A name RQ's module has and conveyor's does not (``from conveyor import Repeat``):
    an ImportError, as Python turns an AttributeError there into one that drops the advice."""


class InvalidJobError(ConveyorError, ValueError):
    """A job cannot be created from what was given."""


class InvalidJobIdError(InvalidJobError):
    """A job id given for a new job breaks the job-id rule (``conveyor.ids.JOB_ID_RULE``)."""

    def __init__(self, job_id: object, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class SerializationError(InvalidJobError):
    """A value could not be encoded or decoded by the job's serializer."""


class JobInterrupted(BaseException):
    """Raised inside a running job to end it early.

    It derives from BaseException, like KeyboardInterrupt, so that a job's own
    ``except Exception:`` cannot swallow a timeout or a stop command.
    """


class JobTimeoutException(JobInterrupted):
    """The job ran past its timeout."""


class JobStopRequested(JobInterrupted):
    """A stop command or a cancel arrived for the running job."""
