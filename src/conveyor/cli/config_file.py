"""Settings from a TOML file, below flags and environment variables.

``--config FILE`` (before the sub-command), ``$CONVEYOR_CONFIG``, or ``./conveyor.toml``
when it exists. Top-level keys apply to every command; a table per command applies
to that command only, keyed by its options' long names with underscores (or the names
click gives their values, as ``queue_limits`` for ``--queue-limit``)::

    url = "sqlite:///jobs.db"
    imports = ["myapp.jobs"]

    [worker]
    concurrency = 8
    per_user_max_concurrent_jobs = 5
    queue_limits = ["reports=2"]

The sub-commands of a group (``batch create``, ``batch list``, ...) take the top-level
keys too, the keys of the group's table (``[batch]``), and their own table
(``[batch.create]``). A flag wins over its environment variable, which wins over the
file (click's ``default_map``). An unknown key is an error, so a typo is never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click

from .errors import InputError

DEFAULT_FILE = "conveyor.toml"


def config_path(given: str | None) -> Path | None:
    """The file to read: given, from the environment, or ./conveyor.toml if present."""
    named = given or os.environ.get("CONVEYOR_CONFIG")
    if named:
        return Path(named)
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_default_map(path: Path, group: click.Group) -> dict[str, Any]:
    """Per-command defaults for click from the file at ``path``, checked against the options."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"config file {path} cannot be read: {exc}") from None
    shared = {key: value for key, value in data.items() if not isinstance(value, dict)}
    unknown = sorted(set(shared) - _option_names(group))
    if unknown:
        raise InputError(f"config file {path}: unknown setting {unknown[0]!r}")
    return _group_defaults(path, group, data, {}, "")


def _options(command: click.Command) -> dict[str, click.Option]:
    """``command``'s options by every name a file may give them: the option's long flags
    with underscores (``--queue-limit``: ``queue_limit``, ``--workers``: ``workers``), as
    the docs promise, and the name click gives its value (``queue_limits``, ``processes``)."""
    options: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            options[param.name] = param
            for flag in param.opts + param.secondary_opts:
                if flag.startswith("--"):
                    options.setdefault(flag[2:].replace("-", "_"), param)
    return options


def _option_names(command: click.Command) -> set[str]:
    """The setting names of ``command``, and of every sub-command when it is a group."""
    names = set(_options(command))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            names |= _option_names(sub)
    return names


def _by_option(
    path: Path, where: str, options: dict[str, click.Option], table: dict[str, Any]
) -> dict[str, tuple[str, Any, str]]:
    """``table``'s settings by their option's own name, each with the key it was given
    under and where (for errors); one option given under two of its names is an error, not
    a silent choice."""
    found: dict[str, tuple[str, Any, str]] = {}
    for key, value in table.items():
        name = options[key].name
        assert name is not None  # _options only keeps named options
        if name in found:
            raise InputError(f"config file {path}: [{where}] gives {name} twice ({found[name][0]}, {key})")
        found[name] = (key, value, "top-level" if where == "top level" else f"[{where}]")
    return found


def _group_defaults(
    path: Path, group: click.Group, table: dict[str, Any], inherited: dict[str, Any], where: str
) -> dict[str, Any]:
    """The default map of ``group``'s sub-commands: ``table``'s plain keys (below ``inherited``,
    the ones of the tables around it) go to every sub-command that has such an option, and a
    table per sub-command to that one. A group's sub-commands read their defaults from a map
    nested under the group's name (click's ``default_map``), so ``url`` at the top of the
    file reaches ``batch list`` as it reaches ``info``."""
    shared = {**inherited, **{key: value for key, value in table.items() if not isinstance(value, dict)}}
    tables = {key: value for key, value in table.items() if isinstance(value, dict)}
    for name in tables:
        if name not in group.commands:
            commands = ", ".join(sorted(group.commands))
            raise InputError(f"config file {path}: [{where}{name}] is not a command ({commands})")
    defaults: dict[str, Any] = {}
    for name, command in group.commands.items():
        own = tables.get(name, {})
        if isinstance(command, click.Group):
            plain = sorted(key for key, value in own.items() if not isinstance(value, dict))
            stray = [key for key in plain if key not in _option_names(command)]
            if stray:
                raise InputError(f"config file {path}: {stray[0]!r} is not a setting of [{where}{name}]")
            defaults[name] = _group_defaults(path, command, own, shared, f"{where}{name}.")
            continue
        options = _options(command)
        for key in own:
            if key not in options:
                raise InputError(f"config file {path}: {key!r} is not a setting of [{where}{name}]")
        relevant = {key: value for key, value in shared.items() if key in options}
        settings = {
            **_by_option(path, where.rstrip(".") or "top level", options, relevant),
            **_by_option(path, f"{where}{name}", options, own),
        }
        by_name = {option.name: option for option in options.values()}
        defaults[name] = {
            option: _checked(path, section, command, by_name[option], key, value)
            for option, (key, value, section) in settings.items()
        }
    return defaults


def _wrong_kind(value: Any, option: click.Option) -> list[str]:
    """What a TOML value is, when it cannot be the option's: a table or list (for one
    value), or a boolean for an option that is not a flag."""
    if isinstance(value, dict | list):
        return ["a table" if isinstance(value, dict) else "a list"]
    if isinstance(value, bool) and not option.is_flag:
        return ["a boolean"]
    return []


def _checked(path: Path, section: str, command: click.Command, option: click.Option, key: str, value: Any) -> Any:
    """A setting's value as the option takes it, or an error naming the file and the
    setting as given, in its ``section`` ('[worker]', 'top-level': click would name the
    option's environment variable instead); a single value for a repeatable option is a
    list of one."""
    if option.multiple and not isinstance(value, list):
        value = [value]
    values = value if option.multiple else [value]
    wrong = next((kind for v in values for kind in _wrong_kind(v, option)), None)
    if wrong is not None:  # click would take true for 1, and a table for its text
        raise InputError(f"config file {path}: {section} {key} = {value!r}: {wrong} is not a value here")
    try:
        option.type_cast_value(click.Context(command), value)
    except click.BadParameter as exc:
        raise InputError(f"config file {path}: {section} {key} = {value!r}: {exc.message}") from None
    except (OverflowError, ValueError, TypeError) as exc:  # 1e400 for a port
        raise InputError(f"config file {path}: {section} {key} = {value!r}: {exc}") from None
    return value
