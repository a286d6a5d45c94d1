"""Running the API server for ``conveyor serve`` and ``conveyor up``: address options,
the bind (done here, so a busy port is a one-line error), and the uvicorn server.

Without API keys the server refuses to listen beyond the loopback interface: an open
API on a network would let anyone run registered jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from conveyor.batch import HARD_MAX_BATCH_JOBS, MAX_BATCH_JOBS
from conveyor.exceptions import ConfigurationError
from conveyor.extras import install_command
from conveyor.types import Limits

from .errors import InputError, UserError
from .options import App, seconds

if TYPE_CHECKING:
    from conveyor.server.events import EventHub

R = TypeVar("R")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SHUTDOWN_GRACE = 3
"""Seconds open streams (SSE, long-polls) get to end when the server stops."""


def address_options(command: Callable[..., R]) -> Callable[..., R]:
    """``--host`` and ``--port`` (``$CONVEYOR_HOST``, ``$CONVEYOR_PORT``)."""
    command = click.option(
        "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
        envvar="CONVEYOR_PORT", show_envvar=True, help="Port to listen on (0: any free port).",
    )(command)  # fmt: skip
    return click.option(
        "--host", default=DEFAULT_HOST, show_default=True, envvar="CONVEYOR_HOST", show_envvar=True,
        help="Interface to listen on; beyond loopback only with API keys configured.",
    )(command)  # fmt: skip


class RateLimitText(click.types.StringParamType):
    """A rate limit such as 600/min, checked as the server will read it, so that a
    mistake is reported under the flag given."""

    name = "N/PERIOD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not str(value).strip():  # empty: no limit, as an empty variable means
            return ""
        try:
            from conveyor.server.rate_limit import RateLimit
        except ImportError:  # no server extra: the command says so when it builds the server
            return str(value)
        try:
            RateLimit.parse(str(value))
        except ConfigurationError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


_SERVER_SETTINGS: list[tuple[str, str, Any, str]] = [
    ("api_keys_file", "CONVEYOR_API_KEYS_FILE", click.Path(dir_okay=False),
     "File of hashed API keys, one sha256:<hex>:user_id:role per line (see conveyor keys; added to "
     "$CONVEYOR_API_KEYS)."),
    ("max_body_bytes", "CONVEYOR_MAX_BODY_BYTES", click.IntRange(min=1), "Largest request body (413 past it). "
     "[default: 1 MiB]"),
    ("max_batch_jobs", "CONVEYOR_MAX_BATCH_JOBS", click.IntRange(min=1, max=HARD_MAX_BATCH_JOBS),
     f"Most jobs in one batch submission (at most {HARD_MAX_BATCH_JOBS:,}). [default: {MAX_BATCH_JOBS:,}]"),
    ("sse_heartbeat", "CONVEYOR_SSE_HEARTBEAT", seconds(),
     "Seconds between heartbeat comments on an idle event stream. [default: 15]"),
    ("rate_limit", "CONVEYOR_RATE_LIMIT", RateLimitText(),
     "Requests per API user and period, e.g. 600/min (429 past it). [default: none]"),
]  # fmt: skip
"""Server settings with a flag each: (parameter, its environment variable, type, help)."""


def server_settings_options(command: Callable[..., R]) -> Callable[..., R]:
    """The server settings' flags (each also read from its variable), handed to the
    command as ``server_env``: the given ones as environment values, which
    Settings.from_env reads and checks like the environment's own."""

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> R:
        given = {variable: kwargs.pop(name) for name, variable, _, _ in _SERVER_SETTINGS}
        server_env = {variable: str(value) for variable, value in given.items() if value is not None}
        return command(*args, server_env=server_env, **kwargs)

    for name, variable, kind, help_text in reversed(_SERVER_SETTINGS):
        with_settings = click.option(
            "--" + name.replace("_", "-"), name, type=kind, envvar=variable, show_envvar=True, help=help_text
        )(with_settings)
    return with_settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_api(app: App, host: str, limits: Limits | None = None, server_env: dict[str, str] | None = None) -> Any:
    """The FastAPI app for ``app``'s backend, with settings from the environment and
    ``server_env`` (from flags); the global and per-user limits and the rates given
    (from flags) are the ones it reports."""
    try:
        from conveyor.server import Settings, create_app
    except ImportError as exc:
        raise InputError(f"the API server needs the server extra: {install_command('server')} ({exc})") from None
    reported: dict[str, object] = {}
    if limits is not None and limits.global_max is not None:
        reported["global_max_concurrent_jobs"] = limits.global_max
    if limits is not None and limits.per_user_max is not None:
        reported["per_user_max_concurrent_jobs"] = limits.per_user_max
    if limits is not None and limits.queue_rates:
        reported["queue_rates"] = limits.queue_rates
    if limits is not None and limits.job_type_rates:
        reported["job_type_rates"] = limits.job_type_rates
    if limits is not None and limits.user_rate is not None:
        reported["user_rate"] = limits.user_rate
    settings = Settings.from_env({**os.environ, **(server_env or {})}, imports=app.imports, **reported)
    if settings.open_access and not is_loopback(host):
        raise InputError(
            f"refusing to serve an open API on {host}: set CONVEYOR_API_KEYS or CONVEYOR_API_KEYS_FILE, "
            "or listen on 127.0.0.1"
        )
    app.import_job_modules()
    return create_app(app.backend, settings)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error (port in use, unknown host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(api: Any, log_level: str, **options: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        api, log_level=log_level, timeout_graceful_shutdown=SHUTDOWN_GRACE, server_header=False, lifespan="on",
        **options,
    )  # fmt: skip


def make_server(api: Any, log_level: str = "info") -> Any:
    """A uvicorn server for ``api``; run it with ``server.run(sockets=[sock])``.

    When it stops, the app's long-polls answer and its event streams end first:
    uvicorn waits for open requests, and a stream never ends by itself, so it would be
    cut (a traceback in the log) when the grace period ran out.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            api.state.conveyor.hub.close_followers()
            await super().shutdown(sockets)

    return Server(_config(api, log_level))


class Stopped(Exception):
    """SIGTERM, once uvicorn has stopped on it (see stopped_on_sigterm)."""


@contextlib.contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """Around ``server.run``: a SIGTERM ends the command as Ctrl-C does, with status 0.

    uvicorn stops on SIGTERM, then raises the signal again for the handler it found:
    the default one would end the process there, by the signal (status 143, no cleanup
    run), where a supervisor's stop is the normal way for a server to end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stopped(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        yield
    except Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def process_app() -> Any:
    """The app of one process of ``conveyor serve --workers N`` (uvicorn's factory, run
    in each process): app_from_environment, whose long-polls answer and event streams
    end as soon as the process is told to stop, as make_server's do; uvicorn would
    otherwise cut them after the grace period (a 500 for a poll, a broken stream)."""
    from conveyor.server.app import app_from_environment

    api = app_from_environment()
    _close_followers_on_stop_signals(api.state.conveyor.hub)
    return api


def _close_followers_on_stop_signals(hub: EventHub) -> None:
    """Chain the hub's close to the stop handlers uvicorn installed (before it loads
    the app, on its loop's thread; it puts back the ones it found when it stops)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not built by a running server: nothing to stop
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        stop = signal.getsignal(sig)
        if callable(stop):
            signal.signal(sig, functools.partial(_stop_and_close, stop, loop, hub))


def _stop_and_close(stop: Callable[[int, FrameType | None], Any], loop: asyncio.AbstractEventLoop, hub: EventHub,
                    signum: int, frame: FrameType | None) -> None:  # fmt: skip
    stop(signum, frame)
    loop.call_soon_threadsafe(hub.close_followers)  # on the loop: a handler may interrupt it anywhere


def run_processes(
    app: App, sock: socket.socket, processes: int, log_level: str, limits: Limits, server_env: dict[str, str]
) -> None:
    """Serve from ``processes`` worker processes sharing ``sock`` (uvicorn's supervisor).

    Each process builds its own app from the environment (process_app), so
    the command's -u, --import, limits and server settings are handed down as
    CONVEYOR_URL, CONVEYOR_IMPORTS and the settings' own variables.
    """
    from uvicorn.supervisors import Multiprocess

    os.environ["CONVEYOR_URL"] = app.url
    os.environ["CONVEYOR_IMPORTS"] = ",".join(app.imports)
    os.environ.update(server_env)
    for variable, value in (("CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS", limits.global_max),
                            ("CONVEYOR_PER_USER_MAX_CONCURRENT_JOBS", limits.per_user_max)):  # fmt: skip
        if value is not None:
            os.environ[variable] = str(value)
    for variable, rates in (("CONVEYOR_QUEUE_RATES", limits.queue_rates),
                            ("CONVEYOR_JOB_TYPE_RATES", limits.job_type_rates)):  # fmt: skip
        if rates:
            os.environ[variable] = ",".join(f"{name}={rate}" for name, rate in rates.items())
    if limits.user_rate is not None:
        os.environ["CONVEYOR_USER_RATE"] = str(limits.user_rate)
    config = _config("conveyor.cli.serving:process_app", log_level, factory=True, workers=processes)
    Multiprocess(config, sockets=[sock]).run()
