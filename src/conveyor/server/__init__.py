"""The REST control plane (``pip install "conveyor[server]"``): ``create_app`` and its Settings."""

from conveyor.server.app import create_app
from conveyor.server.settings import Settings

__all__ = ["Settings", "create_app"]
