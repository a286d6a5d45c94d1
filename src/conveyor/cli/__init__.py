"""The ``conveyor`` command line: workers, enqueueing, inspection and repair, like rq's.

Every command takes ``-u/--url`` and ``--import`` after its name (SPEC section 4 and
6); library errors become one line on stderr with exit status 1 or 2 (see
``conveyor.cli.errors``).
"""

from __future__ import annotations

import click

from conveyor._version import __version__

from .commands_batches import batch
from .commands_jobs import cancel, enqueue, requeue, stop
from .commands_keys import keys
from .commands_queues import cleanup, doctor, empty, info
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
    up, serve, worker, shutdown, enqueue, info, requeue, cancel, stop, empty, cleanup, doctor, batch, keys,
):  # fmt: skip
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``conveyor`` script."""
    cli(prog_name="conveyor")


__all__ = ["cli", "main"]
