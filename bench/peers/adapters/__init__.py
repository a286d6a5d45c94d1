"""One module per library; each exposes ``adapters() -> list[Adapter]`` (one per worker setup).

Modules are imported only when their library is benchmarked, after ``$BENCH_REDIS_URL``
is set (Dramatiq, Celery and Huey bind their broker when their tasks are declared).
"""

from __future__ import annotations

import importlib

from adapters.base import Adapter

# In the order of the table. Each name is a module here and the library it drives.
MODULES = ["conveyor", "rq", "arq", "saq", "dramatiq", "celery", "huey"]


def load(module: str) -> list[Adapter]:
    """The adapters of one library (raises ImportError when the library is not installed)."""
    adapters: list[Adapter] = importlib.import_module(f"adapters.{module}").adapters()
    return adapters
