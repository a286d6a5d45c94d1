"""Naming job functions, finding them again in a worker, and registered job types.

A job stores its function by name: the job-type name of a function registered with
``@job_type`` (however it is enqueued, so that limits, filters and listings see one name
per type), else the import path ``module.qualname``. Only module-level functions can be
found again by a worker in another process.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from conveyor.exceptions import InvalidJobError
from conveyor.ids import is_text

F = TypeVar("F", bound=Callable[..., Any])

_JOB_TYPES: dict[str, Callable[..., Any]] = {}
_JOB_TYPE_OF_PATH: dict[str, str] = {}
"""A registered function's import path -> its job type name: enqueued by its path, it
is stored under its type's name too (limits and filters by type then see it)."""
_IMPORT_CACHE: dict[str, Callable[..., Any]] = {}
_IMPORTED: list[str] = []


def job_type(name: str) -> Callable[[F], F]:
    """Register a function under ``name``, the only way it can be submitted over REST.

    Its jobs are stored under ``name``, also when enqueued as a function: workers find
    it by importing the modules named in ``--import``/``CONVEYOR_IMPORTS``.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidJobError(f"A job type name must be a non-empty string, got {name!r}")

    def register(func: F) -> F:
        existing = _JOB_TYPES.get(name)
        if existing is not None and existing is not func:
            raise InvalidJobError(f"Job type {name!r} is already registered to {function_name(existing)}")
        module, qualname = _require_module_level(func)  # workers find it by importing its module
        _JOB_TYPES[name] = func
        _JOB_TYPE_OF_PATH[f"{module}.{qualname}"] = name
        _cached_function_name.cache_clear()  # a path or function named before now has its type
        return func

    return register


def registered_job_types() -> dict[str, Callable[..., Any]]:
    """A copy of the name -> function map of registered job types."""
    return dict(_JOB_TYPES)


def function_name(func: Callable[..., Any] | str) -> str:
    """The name under which a worker will find ``func`` again.

    Raises InvalidJobError for lambdas, nested functions, bound methods of instances
    and anything else a worker could not import by path.
    """
    if isinstance(func, Hashable):  # remembered per function: enqueue calls this for every job
        return _cached_function_name(func)
    return _function_name(func)


@functools.lru_cache(maxsize=1024)
def _cached_function_name(func: Callable[..., Any] | str) -> str:
    return _function_name(func)


def _function_name(func: Callable[..., Any] | str) -> str:
    if isinstance(func, str):
        if not func or func.strip() != func or not is_text(func):
            raise InvalidJobError(f"Job function name {func!r} is not a valid name")
        return _JOB_TYPE_OF_PATH.get(func, func)  # a registered function's path: its type's name
    for name, registered in _JOB_TYPES.items():  # one name per job type, however it is enqueued
        if registered is func:
            return name
    module, qualname = _require_module_level(func)
    if module == "__main__":
        raise InvalidJobError(f"{qualname} is defined in __main__, which a worker cannot import; move it into a module")
    name = f"{module}.{qualname}"
    try:
        found = resolve_function(name)
        if found != func:  # defined again since it was cached (importlib.reload, a notebook): look again
            _IMPORT_CACHE.pop(name, None)
            found = resolve_function(name)
    except InvalidJobError as exc:
        raise InvalidJobError(f"{name} cannot be imported by a worker: {exc}") from None
    if found != func:  # by identity, but a classmethod is bound anew at each lookup (equal, not the same)
        raise InvalidJobError(f"{name} does not resolve to the function given")
    return name


def _require_module_level(func: object) -> tuple[str, str]:
    """The module and qualified name of a function a worker can import, else an error."""
    if not callable(func):
        raise InvalidJobError(f"A job function must be callable, got {type(func).__name__}")
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise InvalidJobError(
            f"{func!r} is not a module-level function: workers import job functions "
            "by path, so lambdas, nested functions and instances cannot be enqueued"
        )
    if inspect.ismethod(func) and not inspect.isclass(func.__self__):
        raise InvalidJobError(f"{qualname} is a bound method of an instance; enqueue a module-level function")
    return module, qualname


def resolve_function(name: str) -> Callable[..., Any]:
    """The function stored under ``name``: a registered job type or an import path."""
    registered = _JOB_TYPES.get(name)
    if registered is not None:
        return registered
    cached = _IMPORT_CACHE.get(name)
    if cached is not None:
        return cached
    func = import_path(name)
    _IMPORT_CACHE[name] = func
    return func


def import_path(name: str) -> Callable[..., Any]:
    """What ``module.qualname`` names, imported (InvalidJobError: why it cannot be)."""
    parts = name.split(".")
    if "." in name and "" in parts:  # '.x', 'x.', 'a..b': importlib would blame a relative import
        raise InvalidJobError(f"{name!r} is neither a registered job type nor an import path such as module.function")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                continue  # this prefix is not a module; try a shorter one
            raise InvalidJobError(f"importing {module_name} failed: {exc}") from exc
        except Exception as exc:  # a module that raises on import
            raise InvalidJobError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError:
            if _is_module(name):
                raise InvalidJobError(f"{name} is a module, not a function: name one of its functions") from None
            raise InvalidJobError(f"module {module_name} has no attribute {'.'.join(parts[split:])}") from None
        if not callable(target):
            raise InvalidJobError(f"{name} is not callable")
        return target  # type: ignore[no-any-return]
    if "." not in name:
        raise InvalidJobError(
            f"{name!r} is not a job type registered in this process: import the module that registers it"
            " (--import MODULE, or CONVEYOR_IMPORTS)"
        )
    raise InvalidJobError(
        f"no module found for {name!r}: this process (working directory {_working_directory()}) cannot import"
        f" {parts[0]!r}; start it where that module is importable (your project's directory), or add the"
        " module's directory to PYTHONPATH"
    )


def _working_directory() -> str:
    """The process's working directory, for a message: one deleted since (a release
    directory replaced by a deploy) has no path to give."""
    try:
        return os.getcwd()
    except OSError:
        return "deleted since the process started"


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module (a submodule its package does not import itself):
    said so, rather than that the package lacks the attribute."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imported_entries() -> list[str]:
    """The ``--import`` entries imported so far, in order (a worker's job processes
    import them too)."""
    return list(_IMPORTED)


def import_modules(entries: list[str]) -> None:
    """Import the modules that define job functions and job types (``--import``).

    An entry ``name=module.function`` registers that function as job type ``name``
    instead: job types by configuration, for functions without the decorator.
    """
    for entry in entries:
        name, registers, path = (part.strip() for part in entry.partition("="))
        if registers and not (name and path):
            raise InvalidJobError(
                f"the import entry {entry!r} names no job type or no function: use NAME=module.function"
            )
        if registers:
            try:
                func = import_path(path)
            except InvalidJobError as exc:
                raise InvalidJobError(f"job type {name!r} = {path!r}: {exc}") from None
            job_type(name)(func)
        else:
            try:
                importlib.import_module(entry)
            except Exception as exc:
                raise InvalidJobError(f"cannot import {entry}: {type(exc).__name__}: {exc}") from exc
        if entry not in _IMPORTED:
            _IMPORTED.append(entry)
