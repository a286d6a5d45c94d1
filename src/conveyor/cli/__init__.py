"""The ``conveyor`` command line: workers, enqueueing, inspection and repair, like rq's.

Every command takes ``-u/--url`` and ``--import`` after its name (SPEC section 4 and
6); library errors become one line on stderr with exit status 1 or 2 (see
``conveyor.cli.errors``).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import click

from conveyor._version import __version__

from .commands_batches import batch
from .commands_cron import cron
from .commands_jobs import cancel, enqueue, requeue, stop
from .commands_keys import keys
from .commands_queues import audit, cleanup, doctor, empty, info, pause, resume
from .commands_serve import serve
from .commands_shutdown import shutdown
from .commands_up import up
from .commands_worker import worker
from .config_file import config_path, load_default_map
from .errors import ConveyorGroup


@click.group(cls=ConveyorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="conveyor")
@click.option(
    "--config",
    metavar="FILE",
    help="TOML file of settings, below flags and environment variables "
    "(default: $CONVEYOR_CONFIG, else ./conveyor.toml if present).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """conveyor: background jobs for Python, on SQLite or Redis."""
    path = config_path(config)
    if path is not None:
        assert isinstance(ctx.command, click.Group)
        ctx.default_map = load_default_map(path, ctx.command)


for _command in (
    up, serve, worker, cron, shutdown, enqueue, info, pause, resume, requeue, cancel, stop, empty, cleanup, doctor,
    audit, batch, keys,
):  # fmt: skip
    cli.add_command(_command)


LINGER_SECONDS = 1.0
"""How long threads still running when a command is done get to end before the process
exits without them."""


def main() -> None:
    """Entry point of the ``conveyor`` script."""
    try:
        cli(prog_name="conveyor")
    except SystemExit as done:  # click ends every command this way, its status in it
        _exit_past_lingering_threads(done.code)
        raise


def _exit_past_lingering_threads(code: object) -> None:
    """End the process now if threads that job code started and left running (a
    ThreadPoolExecutor never shut down, a library's background thread) are still alive
    LINGER_SECONDS after the command is done. The interpreter waits for every such
    thread at exit: a worker stopped by SIGTERM, its jobs settled and itself
    unregistered, seemed to hang until its supervisor killed it. RQ's work horses end
    with their jobs, taking such threads with them; here the process ends them, after
    running the exit handlers as a normal exit would (an error reporter's last flush,
    logging's): the interpreter runs those only after joining the threads."""
    current = threading.current_thread()
    lingering = [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]
    deadline = time.monotonic() + LINGER_SECONDS
    for thread in lingering:
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t for t in lingering if t.is_alive()]
    if not lingering:
        return
    left_by_jobs = [t.name for t in lingering if not t.name.startswith("conveyor-")]  # not the worker's own
    if left_by_jobs:
        print(f"conveyor: exiting without waiting for {len(left_by_jobs)} threads that jobs left running "
              f"({', '.join(left_by_jobs[:5])})", file=sys.stderr)  # fmt: skip
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


__all__ = ["cli", "main"]
