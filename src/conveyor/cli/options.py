"""Options every command shares (``-u/--url``, ``--import``, ``--json``) and value types.

Shared options sit on each sub-command rather than on the group, so they come after
the command name as in rq (``conveyor info -u sqlite:///x.db``). Each reads its
environment variable when the flag is absent (SPEC section 6): flags win.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from conveyor import audit
from conveyor.backends.base import Backend
from conveyor.connection import DEFAULT_URL, connect
from conveyor.durations import parse_duration
from conveyor.exceptions import ConfigurationError
from conveyor.functions import import_modules
from conveyor.maintenance import DEFAULT_WORKER_TTL
from conveyor.rates import Rate, parse_named_rate, parse_rate
from conveyor.types import Limits
from conveyor.worker.worker import MIN_LEASE_TTL, POOLS, Worker

from .errors import InputError
from .output import Output

R = TypeVar("R")


class App:
    """What a command works with: the backend, the job modules, and its output."""

    def __init__(self, url: str, imports: tuple[str, ...], out: Output, read_only: bool = False) -> None:
        self.url = url
        self.imports = imports
        self.out = out
        self.read_only = read_only
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        """The backend at ``--url``, opened on first use so ``--help`` never touches it;
        read-only for the commands that only read (they then work on a file the user
        cannot write, and cannot write by mistake)."""
        if self._backend is None:
            self._backend = connect(self.url, read_only=self.read_only)
        return self._backend

    def audit(self, action: str, target: str = "", detail: str = "") -> None:
        """Record an action this command took in the store's audit log (conveyor.audit)."""
        audit.record(
            self.backend, actor=audit.command_line_actor(), role=None, via="cli", action=action, target=target,
            detail=detail,
        )  # fmt: skip

    def import_job_modules(self) -> None:
        """Import the ``--import`` modules, with the working directory importable as rq does,
        so ``conveyor worker`` finds the project's own job functions."""
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        import_modules(list(self.imports))

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def _split_commas(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``CONVEYOR_IMPORTS`` is comma-separated; accept the same in ``--import a,b``."""
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def common_options(
    *, json_flag: bool = True, read_only: bool = False
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Add ``-u/--url``, ``--import`` (and ``--json``) to a command, which then receives an
    App (whose store opens read-only for a command that only reads)."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(command)
        def wrapper(*args: Any, url: str, imports: tuple[str, ...], as_json: bool = False, **kwargs: Any) -> R:
            app = App(url, imports, Output(as_json), read_only)
            click.get_current_context().call_on_close(app.close)
            return command(app, *args, **kwargs)

        if json_flag:
            wrapper = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(wrapper)
        wrapper = click.option(
            "--import",
            "imports",
            multiple=True,
            envvar="CONVEYOR_IMPORTS",
            show_envvar=True,
            callback=_split_commas,
            metavar="MODULE",
            help="Module defining job functions or job types (repeatable; env: comma-separated).",
        )(wrapper)
        wrapper = click.option(
            "-u",
            "--url",
            envvar="CONVEYOR_URL",
            show_envvar=True,
            default=DEFAULT_URL,
            show_default=True,
            help="Backend URL, e.g. sqlite:///jobs.db.",
        )(wrapper)
        return wrapper

    return decorate


def _option_name(param: click.Parameter) -> str:
    return f"'{param.opts[0]}'" if param.opts else repr(param.name)


def json_array(ctx: click.Context, param: click.Parameter, value: str | None) -> list[Any]:
    """Callback decoding ``--args``: positional arguments as a JSON array."""
    decoded = _decode_json(param, "[]" if value is None else value)
    if not isinstance(decoded, list):
        raise InputError(f"Invalid value for {_option_name(param)}: expected a JSON array, got {value!r}")
    return decoded


def json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any]:
    """Callback decoding ``--kwargs``: keyword arguments as a JSON object."""
    decoded = _decode_json(param, "{}" if value is None else value)
    if not isinstance(decoded, dict):
        raise InputError(f"Invalid value for {_option_name(param)}: expected a JSON object, got {value!r}")
    return decoded


def _decode_json(param: click.Parameter, value: str) -> Any:
    if not value.strip():  # `--args "$ARGS"` with ARGS unset: a mistake, not "no arguments"
        raise InputError(f"Invalid value for {_option_name(param)}: empty, not JSON")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(f"Invalid value for {_option_name(param)}: not valid JSON ({exc})") from None
    except (RecursionError, ValueError) as exc:  # nested too deep; an integer of too many digits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(f"Invalid value for {_option_name(param)}: {reason}") from None


def iso_datetime(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Callback parsing an ISO 8601 time; without a zone it is UTC, as the library takes it."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"Invalid value for {_option_name(param)}: {value!r} is not an ISO 8601 time such as 2030-01-01T09:00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Callback parsing seconds or a number with one unit ('45s', '3m', '1h')."""
    if value is None:
        return None
    return parse_duration(value, param.opts[0] if param.opts else "duration", forever_allowed=False)


class Concurrency(click.IntRange):
    """A number of jobs, at least 1. A value typed on the command line that is no number
    is most often rq's ``-c/--config`` settings module, typed from habit: said so."""

    def __init__(self) -> None:
        super().__init__(min=1)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        typed = (
            ctx is not None
            and param is not None
            and param.name is not None
            and (ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE)
        )
        if typed and isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            self.fail(
                f"{value!r} is not a number of jobs (rq's -c/--config settings module is not taken: settings"
                " come from conveyor --config FILE, a TOML file, or the environment)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def concurrency_option(default: int, help: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """``-c/--concurrency`` (``$CONVEYOR_CONCURRENCY``), for the commands that run a worker."""
    return click.option(
        "-c",
        "--concurrency",
        type=Concurrency(),
        default=default,
        show_default=True,
        envvar="CONVEYOR_CONCURRENCY",
        show_envvar=True,
        help=help,
    )


def _named_limits(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, int]:
    """``NAME=N`` pairs (repeated, or comma-separated in the environment variable)."""
    limits: dict[str, int] = {}
    for item in _split_commas(ctx, param, value):
        name, sep, number = item.rpartition("=")
        if not sep or not name or not number.strip().isdigit() or int(number) < 1:
            raise InputError(f"Invalid value for {_option_name(param)}: expected NAME=N with N >= 1, got {item!r}")
        limits[name.strip()] = int(number)
    return limits


def _named_rates(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Rate]:
    """``NAME=N/PERIOD`` pairs (repeated, or comma-separated in the environment variable)."""
    rates: dict[str, Rate] = {}
    for item in _split_commas(ctx, param, value):
        try:
            name, rate = parse_named_rate(item)
        except ConfigurationError as exc:
            raise InputError(
                f"Invalid value for {_option_name(param)}: expected NAME=N/PERIOD (as emails=100/m or "
                f"api=5/30s; N >= 1, the period at most a day), got {item!r} ({exc})"
            ) from None
        rates[name] = rate
    return rates


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> Rate | None:
    """``N/PERIOD`` (the per-user rate)."""
    if value is None:
        return None
    try:
        return parse_rate(value.strip(), "the rate")
    except ConfigurationError as exc:
        raise InputError(
            f"Invalid value for {_option_name(param)}: expected N/PERIOD (as 10/s or 100/m; N >= 1, the period at "
            f"most a day), got {value!r} ({exc})"
        ) from None


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without NaN and infinity, which it lets through (a lease of
    NaN seconds would never run out)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def seconds() -> FiniteFloatRange:
    """A positive, finite number of seconds."""
    return FiniteFloatRange(min=0, min_open=True)


def log_level_option(command: Callable[..., R]) -> Callable[..., R]:
    """``--log-level`` (and rq's spellings), for the commands that run until stopped."""
    return click.option(
        "--log-level",
        "--logging-level",
        "--logging_level",
        "log_level",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        default="INFO",
        show_default=True,
    )(command)


def paths_option(command: Callable[..., R]) -> Callable[..., R]:
    """``-P/--path DIR`` (as rq's), put first on the import path; ``paths`` is what was given."""
    return click.option(
        "-P",
        "--path",
        "paths",
        multiple=True,
        type=click.Path(exists=True, file_okay=False),
        help="Put this directory first on the import path (the working directory is on it already). Repeatable.",
    )(command)


def put_first_on_the_import_path(paths: tuple[str, ...]) -> None:
    """What ``-P/--path`` does, in the order given."""
    for path in reversed(paths):
        sys.path.insert(0, os.path.abspath(path))


def lease_ttl_option(command: Callable[..., R]) -> Callable[..., R]:
    """``--lease-ttl`` (``$CONVEYOR_LEASE_TTL``), for the commands that run a worker."""
    return click.option(
        "--lease-ttl",
        type=FiniteFloatRange(min=MIN_LEASE_TTL),
        default=30.0,
        show_default=True,
        envvar="CONVEYOR_LEASE_TTL",
        show_envvar=True,
        help=f"Seconds a claimed job stays reserved without a heartbeat (renewed every third; at least "
        f"{MIN_LEASE_TTL:g}).",
    )(command)


def pool_option(command: Callable[..., R]) -> Callable[..., R]:
    """``--pool`` (``$CONVEYOR_POOL``): where a worker runs sync jobs."""
    return click.option(
        "--pool",
        type=click.Choice(POOLS),
        default="threads",
        show_default=True,
        envvar="CONVEYOR_POOL",
        show_envvar=True,
        help="Where sync jobs run: in the worker (inline, or threads with --concurrency > 1) or in child "
        "processes, which a timeout or stop can kill and a crash leaves the worker untouched.",
    )(command)


_WORKER_SECONDS = {
    "shutdown_timeout": "Seconds running jobs get to finish after the first SIGTERM or Ctrl-C; then they are "
    "interrupted and given back (set below your supervisor's kill timeout).",
    "interrupt_grace": "Seconds a job may ignore its interrupt (timeout, stop) before the worker ends it.",
    "poll_interval": "Seconds an idle worker waits for a wake-up before it looks again, and between promotions "
    "of due scheduled jobs.",
    "maintenance_interval": "Seconds between maintenance passes (reaping silent workers, store upkeep).",
}
"""Worker settings in seconds with a flag each, defaulting to the Worker's own defaults."""


def worker_seconds_options(command: Callable[..., R]) -> Callable[..., R]:
    """``--shutdown-timeout``, ``--interrupt-grace``, ``--poll-interval`` and
    ``--maintenance-interval``, each with its ``$CONVEYOR_...`` variable."""
    defaults = inspect.signature(Worker).parameters
    for name, help_text in reversed(_WORKER_SECONDS.items()):
        command = click.option(
            "--" + name.replace("_", "-"),
            type=seconds(),
            default=defaults[name].default,
            show_default=True,
            envvar=f"CONVEYOR_{name.upper()}",
            show_envvar=True,
            help=help_text,
        )(command)
    return command


def worker_ttl_option(command: Callable[..., R]) -> Callable[..., R]:
    """``--worker-ttl`` (``$CONVEYOR_WORKER_TTL``): when maintenance reaps a silent worker."""
    return click.option(
        "--worker-ttl",
        type=seconds(),
        default=DEFAULT_WORKER_TTL,
        show_default=True,
        envvar="CONVEYOR_WORKER_TTL",
        show_envvar=True,
        help="Seconds without a heartbeat after which maintenance reaps a worker's registration.",
    )(command)


_Option = Callable[[Callable[..., Any]], Callable[..., Any]]
"""A click option, as a decorator."""

_SHARED_LIMITS: list[_Option] = [
    click.option(
        "--global-max-concurrent-jobs",
        type=click.IntRange(min=1),
        envvar="CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS",
        show_envvar=True,
        help="Most jobs running at once across every worker of the store.",
    ),
    click.option(
        "--per-user-max-concurrent-jobs",
        type=click.IntRange(min=1),
        envvar="CONVEYOR_PER_USER_MAX_CONCURRENT_JOBS",
        show_envvar=True,
        help="Most jobs of one user_id running at once.",
    ),
]


def _per_name(flag: str, callback: Callable[..., Any], metavar: str, help: str) -> _Option:
    """A repeatable NAME=VALUE option with its CONVEYOR_<NAME>S variable (the per-queue and
    per-job-type limits and rates)."""
    dest = flag.removeprefix("--").replace("-", "_") + "s"
    return click.option(
        flag, dest, multiple=True, callback=callback, envvar=f"CONVEYOR_{dest.upper()}", show_envvar=True,
        metavar=metavar, help=help,
    )  # fmt: skip


_RATES: list[_Option] = [
    _per_name(
        "--queue-rate", _named_rates, "QUEUE=N/PERIOD",
        "Most jobs of one queue started per period, as emails=100/m (s, m, h, d or a duration such as 30s; "
        "repeatable).",
    ),
    _per_name(
        "--job-type-rate", _named_rates, "TYPE=N/PERIOD",
        "Most jobs of one job type (function) started per period, as myapp.jobs.call_api=10/s (repeatable).",
    ),
    click.option(
        "--user-rate", "user_rate", callback=_rate, envvar="CONVEYOR_USER_RATE", show_envvar=True,
        metavar="N/PERIOD", help="Most jobs of each user_id started per period, as 10/s (every user apart).",
    ),
]  # fmt: skip


def reported_limits_options(command: Callable[..., R]) -> Callable[..., R]:
    """The global and per-user limits and the rates, for a server that reports them (the
    workers enforce them)."""
    for option in reversed([*_SHARED_LIMITS, *_RATES]):
        command = option(command)
    return command


def limits_options(command: Callable[..., R]) -> Callable[..., R]:
    """The concurrency limits a worker enforces in every claim, across all workers."""
    options = [
        *_SHARED_LIMITS,
        _per_name("--queue-limit", _named_limits, "QUEUE=N", "Most jobs of one queue running at once (repeatable)."),
        _per_name(
            "--job-type-limit",
            _named_limits,
            "TYPE=N",
            "Most jobs of one job type (function) running at once (repeatable).",
        ),
        *_RATES,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def limits_from(
    global_max_concurrent_jobs: int | None,
    per_user_max_concurrent_jobs: int | None,
    queue_limits: dict[str, int],
    job_type_limits: dict[str, int],
    queue_rates: dict[str, Rate] | None = None,
    job_type_rates: dict[str, Rate] | None = None,
    user_rate: Rate | None = None,
) -> Limits:
    return Limits(
        global_max_concurrent_jobs, per_user_max_concurrent_jobs, queue_limits, job_type_limits,
        queue_rates or {}, job_type_rates or {}, user_rate,
    )  # fmt: skip


def limit_flags(limits: Limits) -> list[str]:
    """The worker command-line flags that give a worker these limits."""
    flags: list[str] = []
    for flag, value in (("--global-max-concurrent-jobs", limits.global_max),
                        ("--per-user-max-concurrent-jobs", limits.per_user_max)):  # fmt: skip
        if value is not None:
            flags += [flag, str(value)]
    for flag, named in (("--queue-limit", limits.per_queue), ("--job-type-limit", limits.per_job_type)):
        for name, cap in named.items():
            flags += [flag, f"{name}={cap}"]
    for flag, rates in (("--queue-rate", limits.queue_rates), ("--job-type-rate", limits.job_type_rates)):
        for name, rate in rates.items():
            flags += [flag, f"{name}={rate}"]
    if limits.user_rate is not None:
        flags += ["--user-rate", str(limits.user_rate)]
    return flags
