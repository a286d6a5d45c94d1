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
from conveyor.backends.base import Backend
from dashboard.browser import CHROMIUM, INSTALL_SECONDS, chromium_binary
from dashboard.servers import ApiServer
from redis_server import RedisServer
from worker.processes import start_worker, stop_process

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EXPECT_TIMEOUT_MS = 10_000

Shot = Callable[[Page, str], Path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Where Chromium is still to be installed, give the browser tests time for apt: the
    first one to run installs it, inside its own setup."""
    if CHROMIUM.exists():
        return
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.timeout(INSTALL_SECONDS + 120))


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


class Stack:
    """One store with its server, worker and queue, each started when first asked for.

    One per backend kind for the whole session: starting a server costs more than most
    tests, and the tests keep apart by queue, user and job id.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._server: ApiServer | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        self._connection: Backend | None = None

    @property
    def server(self) -> ApiServer:
        if self._server is None:
            self._server = ApiServer(self.url).start()
        return self._server

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        if self._worker is None:
            # A short lease: the worker reports its current job with each heartbeat (a third of it).
            self._worker = start_worker(self.url, poll_interval=0.05, lease_ttl=1.5)
        return self._worker

    @property
    def queue(self) -> Queue:
        if self._connection is None:
            self._connection = conveyor.connect(self.url)
        return Queue(connection=self._connection)

    def close(self) -> None:
        if self._worker is not None:
            stop_process(self._worker)
        if self._server is not None:
            self._server.stop()
        if self._connection is not None:
            self._connection.close()


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    made: dict[str, Stack] = {}
    yield made
    for stack in made.values():
        stack.close()


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack], tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The stack of the module's backend: SQLite unless the module parametrizes ``stack`` (indirect)."""
    kind = getattr(request, "param", "sqlite")
    if kind not in stacks:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'conveyor.db'}"
        else:
            redis: RedisServer = request.getfixturevalue("redis_server")
            url = f"{redis.url}?prefix=dashboard-{uuid.uuid4().hex[:12]}"
        stacks[kind] = Stack(url)
    return stacks[kind]


@pytest.fixture(scope="module")
def store_url(stack: Stack) -> str:
    return stack.url


@pytest.fixture(scope="module")
def server(stack: Stack) -> ApiServer:
    return stack.server


@pytest.fixture(scope="module")
def worker(stack: Stack) -> subprocess.Popen[bytes]:
    return stack.worker


@pytest.fixture(scope="module")
def queue(stack: Stack) -> Queue:
    return stack.queue


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


def assert_fits_width(page: Page) -> None:
    """Nothing sticks out sideways: wide tables scroll inside their own box, the page does not."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"the page is {width}px wide in a {viewport['width']}px viewport"


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
