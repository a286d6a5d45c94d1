"""``conveyor keys``: make API keys and the hashed lines of a keys file
(``CONVEYOR_API_KEYS_FILE``), so a key never needs to be stored in clear."""

from __future__ import annotations

import secrets
import sys

import click

from conveyor.extras import install_command

from .errors import InputError, UserError

_user = click.option("--user", "user_id", required=True, help="The user id the key stands for.")
_role = click.option(
    "--role", type=click.Choice(["user", "admin"]), default="user", show_default=True, help="What the key may see."
)


def _line(key: str, user_id: str, role: str) -> str:
    """The keys-file line, only for a user id the server will accept."""
    try:
        from conveyor.server.auth import hash_key, user_id_problem
    except ImportError as exc:
        raise UserError(f"API keys need the server extra: {install_command('server')} ({exc})") from None
    problem = user_id_problem(user_id)
    if problem:
        raise InputError(f"--user {user_id!r}: {problem}")
    return f"{hash_key(key)}:{user_id}:{role}"


@click.group()
def keys() -> None:
    """API keys for `conveyor serve`: print keys-file lines (sha256:<hex>:user:role)."""


@keys.command()
@_user
@_role
def new(user_id: str, role: str) -> None:
    """Make a random key: prints the key (give it to the user) on stderr and the
    keys-file line on stdout (append it to CONVEYOR_API_KEYS_FILE)."""
    key = secrets.token_urlsafe(32)
    line = _line(key, user_id, role)
    click.echo(f"API key for {user_id} ({role}): {key}", err=True)
    click.echo(line)


@keys.command("hash")
@_user
@_role
def hash_command(user_id: str, role: str) -> None:
    """The keys-file line for an existing key, read from stdin (or typed, hidden)."""
    key = click.prompt("API key", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key or ":" in key or "," in key:
        raise InputError("the key must be non-empty, without ':' or ','")
    click.echo(_line(key, user_id, role))
