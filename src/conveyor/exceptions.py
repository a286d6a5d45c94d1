"""The exceptions conveyor raises, in one hierarchy.

ConveyorError
├── ConfigurationError          bad URL, missing extra, unusable database path
├── BackendError                the store failed (busy past all retries, gone)
│   └── BackendUnavailableError also a ConnectionError: the store cannot be reached
├── NoSuchJobError              also a KeyError: unknown job id
├── JobIdInUseError             a live job already has this id
├── InvalidJobOperation         the job's status does not allow the change
├── NoSuchBatchError            also a KeyError: unknown batch id
├── InvalidBatchOperation       the batch's status does not allow the change
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


class BackendError(ConveyorError):
    """The storage backend failed to carry out an operation."""


class BackendUnavailableError(BackendError, ConnectionError):
    """The storage backend cannot be reached or opened."""


class NoSuchJobError(ConveyorError, KeyError):
    """No job with this id exists (it never did, or it was deleted or expired)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} not found")
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


class JobIdInUseError(ConveyorError):
    """Enqueueing would reuse the id of a job that has not reached a terminal status."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"Job id {job_id!r} is already used by a {status} job")
        self.job_id = job_id
        self.status = status


class InvalidJobOperation(ConveyorError):
    """The job's current status does not allow the requested change."""

    def __init__(self, job_id: str, status: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status


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


class InvalidBatchOperation(ConveyorError):
    """The batch's current status does not allow the requested change."""

    def __init__(self, batch_id: str, status: str, message: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.status = status

    @classmethod
    def already(cls, action: str, batch_id: str, status: str) -> InvalidBatchOperation:
        """``action`` refused because the batch is already ``status``."""
        return cls(batch_id, status, f"Cannot {action} batch {batch_id}: it is already {status}")


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
