"""RQ's ``@job`` decorator: ``add.delay(3, 4)`` enqueues ``add(3, 4)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from conveyor.backends.base import Backend
from conveyor.options import refuse_misplaced_options
from conveyor.queue import Queue

F = TypeVar("F", bound=Callable[..., Any])


class job:
    """``@job("low", connection=conn, timeout=5)`` gives the function ``enqueue`` and
    ``delay`` methods (RQ 3's name and the older one) that enqueue a call of it on that
    queue with those options (any of ``enqueue``'s; ``timeout``, ``result_ttl`` and
    ``ttl`` may come after the connection, as in RQ); the function itself is unchanged,
    and workers import it by its own name. As in RQ, ``enqueue`` takes ``depends_on``,
    ``job_id`` and ``at_front`` among its keywords; every other keyword goes to the
    function."""

    def __init__(
        self,
        queue: Queue | str,
        connection: Backend | None = None,
        timeout: int | float | str | None = None,
        result_ttl: int | float | str | None = None,
        ttl: int | float | str | None = None,
        **options: Any,
    ) -> None:
        self.queue = queue
        self.connection = connection
        given = {"timeout": timeout, "result_ttl": result_ttl, "ttl": ttl}
        self.options = {**options, **{name: value for name, value in given.items() if value is not None}}

    def __call__(self, func: F) -> F:
        def delay(*args: Any, **kwargs: Any) -> Any:
            if not isinstance(self.queue, Queue):  # made at the first call: the default connection may come later
                self.queue = Queue(self.queue, connection=self.connection)
            queue = self.queue
            options = dict(self.options)
            for name in ("depends_on", "job_id", "at_front"):
                if name in kwargs:
                    options[name] = kwargs.pop(name)
            refuse_misplaced_options(func, kwargs)
            return queue.enqueue_call(func, args=args, kwargs=kwargs, **options)

        func.delay = func.enqueue = delay  # type: ignore[attr-defined]
        return func
