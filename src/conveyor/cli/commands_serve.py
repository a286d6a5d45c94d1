"""``conveyor serve``: the REST API (and the dashboard) on uvicorn."""

from __future__ import annotations

import click

from .options import App, common_options
from .serving import address_options, bind, build_api, make_server, url_of


@click.command()
@address_options
@click.option(
    "--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
    show_default=True, help="uvicorn's log level (access lines at info).",
)  # fmt: skip
@common_options(json_flag=False)
def serve(app: App, host: str, port: int, log_level: str) -> None:
    """Serve the REST API and dashboard; job types come from --import / CONVEYOR_IMPORTS."""
    api = build_api(app, host)
    sock = bind(host, port)
    click.echo(f"conveyor API on {url_of(sock)}/api/v1 (docs: {url_of(sock)}/docs)", err=True)
    make_server(api, log_level).run(sockets=[sock])
