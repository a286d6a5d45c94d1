"""Server settings, read from the environment (SPEC section 6); flags override them in the CLI."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from conveyor.batch import MAX_BATCH_JOBS
from conveyor.exceptions import ConfigurationError
from conveyor.rates import Rate, parse_named_rates, parse_rate
from conveyor.server.auth import ApiKey, keys_from_env, keys_from_file
from conveyor.server.rate_limit import RateLimit

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``create_app`` needs besides the backend.

    With no ``api_keys`` the API is open: every caller acts as an admin without a
    user id, and ``conveyor serve`` refuses to listen beyond the loopback interface.
    """

    api_keys: tuple[ApiKey, ...] = ()
    imports: tuple[str, ...] = ()
    max_body_bytes: int = MIB
    sse_heartbeat_seconds: float = 15.0
    event_wait_seconds: float = 1.0
    dashboard: bool = True
    max_batch_jobs: int = MAX_BATCH_JOBS
    global_max_concurrent_jobs: int | None = None
    per_user_max_concurrent_jobs: int | None = None
    """The limits the workers are given (same environment variables), reported by the
    queue stats; workers enforce them, the server only shows them."""
    queue_rates: Mapping[str, Rate] = field(default_factory=dict)
    job_type_rates: Mapping[str, Rate] = field(default_factory=dict)
    user_rate: Rate | None = None
    """The workers' rates (``CONVEYOR_QUEUE_RATES``, ``CONVEYOR_JOB_TYPE_RATES``,
    ``CONVEYOR_USER_RATE``), reported alike."""
    rate_limit: RateLimit | None = None
    """Requests per caller and period (429 past it); None: no limit."""

    @property
    def open_access(self) -> bool:
        return not self.api_keys

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``CONVEYOR_API_KEYS``/``CONVEYOR_API_KEYS_FILE``, ``CONVEYOR_IMPORTS``,
        ``CONVEYOR_MAX_BODY_BYTES``, ``CONVEYOR_SSE_HEARTBEAT``, ``CONVEYOR_RATE_LIMIT`` and the workers' limits
        (``CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS``, ``CONVEYOR_PER_USER_MAX_CONCURRENT_JOBS``) and rates
        (``CONVEYOR_QUEUE_RATES``, ``CONVEYOR_JOB_TYPE_RATES``, ``CONVEYOR_USER_RATE``); ``overrides`` win."""
        env = os.environ if environ is None else environ
        keys = keys_from_env(env.get("CONVEYOR_API_KEYS", ""))
        if env.get("CONVEYOR_API_KEYS_FILE"):
            keys += keys_from_file(env["CONVEYOR_API_KEYS_FILE"])
        values: dict[str, object] = {
            "api_keys": keys,
            "imports": tuple(name.strip() for name in env.get("CONVEYOR_IMPORTS", "").split(",") if name.strip()),
        }
        if env.get("CONVEYOR_MAX_BODY_BYTES"):
            values["max_body_bytes"] = _number(env, "CONVEYOR_MAX_BODY_BYTES", int)
        if env.get("CONVEYOR_MAX_BATCH_JOBS"):
            values["max_batch_jobs"] = _number(env, "CONVEYOR_MAX_BATCH_JOBS", int)
        if env.get("CONVEYOR_SSE_HEARTBEAT"):
            values["sse_heartbeat_seconds"] = _number(env, "CONVEYOR_SSE_HEARTBEAT", float)
        if env.get("CONVEYOR_RATE_LIMIT"):
            try:
                values["rate_limit"] = RateLimit.parse(env["CONVEYOR_RATE_LIMIT"])
            except ConfigurationError as exc:
                raise ConfigurationError(f"CONVEYOR_RATE_LIMIT: {exc}") from None
        for name in ("global_max_concurrent_jobs", "per_user_max_concurrent_jobs"):
            variable = f"CONVEYOR_{name.upper()}"
            if env.get(variable):
                values[name] = _number(env, variable, int)
        for name in ("queue_rates", "job_type_rates"):
            variable = f"CONVEYOR_{name.upper()}"
            if env.get(variable):
                try:
                    values[name] = parse_named_rates(env[variable])
                except ConfigurationError as exc:
                    raise ConfigurationError(f"{variable}: {exc}") from None
        if env.get("CONVEYOR_USER_RATE", "").strip():
            values["user_rate"] = parse_rate(env["CONVEYOR_USER_RATE"].strip(), "CONVEYOR_USER_RATE")
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(env[name])
    except ValueError:
        raise ConfigurationError(f"{name} must be a positive number, got {env[name]!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be a positive number, got {env[name]!r}")
    return value
