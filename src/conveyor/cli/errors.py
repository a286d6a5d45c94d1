"""How the CLI reports failures: one line on stderr and an exit status, never a traceback.

Library errors are mapped to exit statuses here, in one place, so every command
reports the same mistake the same way. Status 2 means the input or the setup is wrong
(as for click's usage errors); status 1 means the operation could not be done.
"""

from __future__ import annotations

from typing import Any

import click

from conveyor.exceptions import (
    BackendError,
    ConfigurationError,
    ConveyorError,
    InvalidBatchOperation,
    InvalidJobError,
    InvalidJobOperation,
    JobIdInUseError,
    NoSuchBatchError,
    NoSuchJobError,
    NoSuchWorkerError,
)

EXIT_FAILURE = 1
"""The request was understood but cannot be carried out (unknown job, wrong status)."""

EXIT_USAGE = 2
"""The command line or the configuration is wrong (bad JSON, unknown function, bad URL)."""

EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT) stopped the command, as shells report it (128 + 2)."""


class UserError(click.ClickException):
    """An operation that cannot be done; shown as ``Error: <message>`` without usage text."""

    exit_code = EXIT_FAILURE


class InputError(UserError):
    """The command line or the configuration is wrong."""

    exit_code = EXIT_USAGE


class Interrupted(UserError):
    """Ctrl-C stopped a long operation part way; the message says how far it got."""

    exit_code = EXIT_INTERRUPTED


_MAPPING: tuple[tuple[type[ConveyorError], type[UserError]], ...] = (
    (ConfigurationError, InputError),
    (InvalidJobError, InputError),
    (NoSuchJobError, UserError),
    (NoSuchBatchError, UserError),
    (NoSuchWorkerError, UserError),
    (InvalidBatchOperation, UserError),
    (InvalidJobOperation, UserError),
    (JobIdInUseError, UserError),
    (BackendError, UserError),
)


def user_error(error: ConveyorError) -> UserError:
    """The CLI error for a library error (the first matching class wins; default status 1)."""
    cls = next((target for source, target in _MAPPING if isinstance(error, source)), UserError)
    return cls(str(error))


class ConveyorGroup(click.Group):
    """The command group; turns every ConveyorError raised by a command into a UserError.

    Sub-command options are parsed inside ``invoke`` too, so errors raised while
    converting option values (durations, queue names) are reported the same way.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConveyorError as error:
            raise user_error(error) from None
        except UnicodeEncodeError as error:  # an argument (or variable) with bytes that are not UTF-8
            raise InputError(not_text(error)) from None


def not_text(error: UnicodeEncodeError) -> str:
    """The one line for a command-line argument or variable a store cannot hold: Python
    reads bytes that are not UTF-8 as lone surrogates, which no store takes. The library
    refuses them by name where it checks names and ids; this catches the rest."""
    bad = error.object[error.start : error.end] if isinstance(error.object, str) else ""
    return f"an argument is not text: it holds bytes that are not UTF-8 (read as {bad!r:.40}); check its encoding"
