"""``conveyor shutdown``: ask running workers, on any machine, to stop gracefully."""

from __future__ import annotations

import click

from conveyor.command import send_shutdown_command
from conveyor.exceptions import NoSuchWorkerError

from .errors import InputError, UserError
from .options import App, common_options
from .output import plural


@click.command()
@click.argument("names", nargs=-1, metavar="[NAMES]...")
@click.option("-a", "--all", "every", is_flag=True, help="Every registered worker (with -q: those serving the queue).")
@click.option(
    "-q", "--queue", "queues", multiple=True, help="With --all: only workers serving this queue (repeatable)."
)
@common_options()
def shutdown(app: App, names: tuple[str, ...], every: bool, queues: tuple[str, ...]) -> None:
    """Ask workers to shut down as SIGTERM would make them: take no more jobs, finish the
    running ones, exit. Each hears it at its next heartbeat (within 10 s by default).

    Named workers are checked first: nothing is sent if one is not registered (see
    `conveyor info` for the names).
    """
    if every == bool(names):
        raise InputError("give worker names or --all (not both)")
    if queues and not every:
        raise InputError("--queue goes with --all")
    registered = app.backend.workers_list()
    if every:
        wanted = set(queues)
        targets = [w.name for w in registered if not wanted or wanted & set(w.queues)]
    else:
        targets = list(dict.fromkeys(names))
        unknown = sorted(set(targets) - {w.name for w in registered})
        if unknown:
            raise UserError(f"not registered: {', '.join(unknown)} (`conveyor info` lists the workers)")
    asked = []
    for name in targets:
        try:
            send_shutdown_command(app.backend, name)
        except NoSuchWorkerError:
            continue  # it stopped (or was reaped) since the listing: nothing left to ask
        asked.append(name)
        app.audit("worker.shutdown", name)
    message = f"Asked {plural(len(asked), 'worker')} to shut down" + (f": {', '.join(asked)}" if asked else "")
    app.out.emit({"shutdown_requested": asked}, message)
