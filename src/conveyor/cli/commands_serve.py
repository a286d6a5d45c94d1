"""``conveyor serve``: the REST API (and the dashboard) on uvicorn."""

from __future__ import annotations

import contextlib

import click

from conveyor.rates import Rate
from conveyor.store_wait import once_the_store_answers

from .options import App, common_options, limits_from, reported_limits_options
from .serving import (
    address_options,
    bind,
    build_api,
    make_server,
    run_processes,
    server_settings_options,
    stopped_on_sigterm,
    url_of,
)


@click.command()
@address_options
@click.option(
    "--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
    show_default=True, help="uvicorn's log level (access lines at info).",
)  # fmt: skip
@click.option(
    "--workers", "processes", type=click.IntRange(min=1), default=1, show_default=True,
    help="Server processes sharing the port (each a Python process: use about one per core).",
)  # fmt: skip
@reported_limits_options
@server_settings_options
@common_options(json_flag=False)
def serve(
    app: App,
    host: str,
    port: int,
    log_level: str,
    processes: int,
    global_max_concurrent_jobs: int | None,
    per_user_max_concurrent_jobs: int | None,
    queue_rates: dict[str, Rate],
    job_type_rates: dict[str, Rate],
    user_rate: Rate | None,
    server_env: dict[str, str],
) -> None:
    """Serve the REST API and dashboard; job types come from --import / CONVEYOR_IMPORTS.

    The limits are the ones /jobs/queue/stats reports: the workers enforce them.
    """
    limits = limits_from(
        global_max_concurrent_jobs, per_user_max_concurrent_jobs, {}, {}, queue_rates, job_type_rates, user_rate
    )
    # with --processes too: a bad setting fails here, in one line
    api = once_the_store_answers(
        lambda: build_api(app, host, limits, server_env), lambda message: click.echo(f"Warning: {message}", err=True)
    )
    sock = bind(host, port)
    click.echo(f"conveyor API on {url_of(sock)}/api/v1 (docs: {url_of(sock)}/docs)", err=True)
    if processes == 1:
        # uvicorn stops on Ctrl-C or SIGTERM, then raises the signal again for its caller:
        # the server has stopped as asked, not failed (click would say 'Aborted!', status 1;
        # the default SIGTERM handler would end the process by the signal, status 143)
        with contextlib.suppress(KeyboardInterrupt), stopped_on_sigterm():
            make_server(api, log_level).run(sockets=[sock])
    else:
        run_processes(app, sock, processes, log_level, limits, server_env)
