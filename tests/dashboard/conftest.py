"""Fixtures for the browser tests: Chromium (installed by apt when missing), a real API
server and a real worker on a temporary SQLite file, and a page per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

import conveyor
from conveyor import Queue
from dashboard.browser import chromium_binary
from dashboard.servers import ApiServer
from redis_server import RedisServer
from worker.processes import start_worker, stop_process

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EXPECT_TIMEOUT_MS = 10_000

Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        return chromium_binary()
    except RuntimeError as error:
        pytest.fail(f"the browser tests need Chromium: {error}", pytrace=False)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    yield browser
    browser.close()


def _backends() -> list[str]:
    """SQLite, and Redis once its backend has what the REST layer reads (job events,
    throughput counters, inspection), so the live tests widen by themselves when it lands."""
    from conveyor.backends.redis.backend import RedisBackend

    ready = all(hasattr(RedisBackend, name) for name in ("events_read", "throughput", "job_inspect"))
    return ["sqlite", "redis"] if ready else ["sqlite"]


BACKENDS = _backends()


@pytest.fixture(scope="module")
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh store for one test module: SQLite unless the module asks for others (indirect)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'conveyor.db'}"
    redis: RedisServer = request.getfixturevalue("redis_server")
    return f"{redis.url}?prefix=dashboard-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(store_url: str) -> Iterator[ApiServer]:
    api = ApiServer(store_url).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def worker(store_url: str) -> Iterator[subprocess.Popen[bytes]]:
    # A short lease: the worker reports its current job with each heartbeat (a third of it).
    process = start_worker(store_url, poll_interval=0.05, lease_ttl=1.5)
    yield process
    stop_process(process)


@pytest.fixture(scope="module")
def queue(store_url: str) -> Iterator[Queue]:
    connection = conveyor.connect(store_url)
    yield Queue(connection=connection)
    connection.close()


def _page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, LAPTOP)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, PHONE)


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    """Save a full-page screenshot; to DASHBOARD_SCREENSHOTS when set (to look at), else tmp_path."""
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
