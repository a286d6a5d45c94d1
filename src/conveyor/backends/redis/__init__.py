"""The Redis backend, for workers on many machines (``pip install "conveyor[redis]"``)."""

from .backend import RedisBackend

__all__ = ["RedisBackend"]
