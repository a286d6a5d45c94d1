"""Regenerate docs/dashboard.png: a real server and two workers run a mixed workload for a
while with the overview open, then the page is photographed at a laptop's size.

    .venv/bin/python tests/dashboard/docs_screenshot.py [SECONDS]   # from the repository root
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from playwright.sync_api import sync_playwright  # noqa: E402

import conveyor  # noqa: E402
import jobfuncs  # noqa: E402
from conveyor import Queue  # noqa: E402
from dashboard.browser import chromium_binary  # noqa: E402
from dashboard.servers import ApiServer  # noqa: E402
from worker.processes import start_worker, stop_process  # noqa: E402

OUTPUT = TESTS.parent / "docs" / "dashboard.png"


def enqueue_some(queues: dict[str, Queue], count: int) -> None:
    for _ in range(count):
        pick = random.random()
        if pick < 0.5:
            queues["default"].enqueue(jobfuncs.sleep, round(random.uniform(0.05, 0.4), 2))
        elif pick < 0.75:
            queues["emails"].enqueue(jobfuncs.add, random.randint(1, 99), random.randint(1, 99))
        elif pick < 0.92:
            queues["reports"].enqueue(jobfuncs.use_current_job, random.randint(1, 9))
        else:
            queues["default"].enqueue(jobfuncs.fail, "upstream answered 503")


def main(seconds: float) -> None:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='conveyor-docs-')}/conveyor.db"
    server = ApiServer(url).start()
    workers = [start_worker(url, ("default", "emails", "reports"), lease_ttl=3) for _ in range(2)]
    connection = conveyor.connect(url)
    queues = {name: Queue(name, connection=connection) for name in ("default", "emails", "reports")}
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium_binary(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.base)
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                enqueue_some(queues, 2 + int(6 * abs((elapsed / 30) % 2 - 1)))  # a rate that rises and falls
                time.sleep(1)
            queues["reports"].enqueue(jobfuncs.sleep, 30)
            queues["default"].enqueue(jobfuncs.sleep, 30)
            enqueue_some(queues, 4)
            time.sleep(3)
            page.screenshot(path=str(OUTPUT))
            browser.close()
    finally:
        for worker in workers:
            stop_process(worker)
        server.stop()
        connection.close()
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
