"""The overview's tables: a queue's jobs per status and a worker's jobs as REST and
``conveyor info`` count them, and names and ids kept whole on a phone."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from click.testing import CliRunner
from playwright.sync_api import Page, Route, expect

import conveyor
from conveyor import Queue, cancel_job
from conveyor.cli import cli
from conveyor.status import JobStatus
from conveyor.testing import make_job
from dashboard.conftest import assert_fits_width
from dashboard.jobs import hold
from dashboard.servers import ApiServer
from jobfuncs import add, fail
from waiting import wait_until
from worker.processes import start_worker, stop_process

COLUMNS = ["pending", "scheduled", "running", "completed", "failed", "cancelled", "total"]


def answer(route: Route, body: object) -> None:
    route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


def test_the_queues_table_counts_each_status_as_rest_and_conveyor_info_do(
    page: Page, server: ApiServer, store_url: str, queue: Queue
) -> None:
    name = f"tally-{uuid.uuid4().hex[:8]}"  # no worker serves it
    now = time.time()
    spread = {JobStatus.QUEUED: 2, JobStatus.SCHEDULED: 1, JobStatus.STARTED: 1, JobStatus.FINISHED: 3,
              JobStatus.FAILED: 2, JobStatus.STOPPED: 1, JobStatus.CANCELED: 1}  # fmt: skip
    for status, count in spread.items():
        for _ in range(count):
            make_job(queue.connection, queue=name, status=status, now=now, scheduled_for=now + 3600,
                     lease_expires_at=now + 3600, ended_at=now)  # fmt: skip

    page.goto(server.base)
    table = page.get_by_role("region", name="Queues").locator("table")
    headers = ["Queue", "Pending", "Scheduled", "Running", "Completed", "Failed", "Cancelled", "Total", "Pause"]
    expect(table.locator("thead th")).to_have_text(headers)  # in a job's order, as the cards above
    row = table.locator(f'tr[data-queue="{name}"]')
    expect(row.locator("td")).to_have_text(["2", "1", "1", "3", "2", "2", "11", "Pause"])

    rest = next(q for q in server.get("/api/v1/queues")["data"] if q["queue"] == name)  # type: ignore[index]
    assert [rest[column] for column in COLUMNS] == [2, 1, 1, 3, 2, 2, 11]
    result = CliRunner().invoke(cli, ["info", "-q", name, "--json", "-u", store_url], catch_exceptions=False)
    (info,) = json.loads(result.output)["queues"]
    counts = info["counts"]
    by_rest = [counts["queued"] + counts["deferred"], counts["scheduled"], counts["started"], counts["finished"],
               counts["failed"], counts["stopped"] + counts["canceled"], info["total"]]  # fmt: skip
    assert by_rest == [2, 1, 1, 3, 2, 2, 11]

    completed = row.locator('td[data-status="completed"]').get_by_role("link")
    expect(completed).to_have_attribute("href", f"#/jobs?queue={name}&status=completed")
    failed = row.locator('td[data-status="failed"]').get_by_role("link")
    expect(failed).to_have_attribute("href", f"#/failed?queue={name}")
    completed.click()
    expect(page.locator("main tbody tr")).to_have_count(3)


def test_a_workers_failures_and_cancelled_jobs_are_counted_apart_and_all_as_ended(page: Page, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'counted.db'}"  # a store of its own: this worker alone, its counts exact
    server = ApiServer(url).start()
    worker = start_worker(url, poll_interval=0.05)
    store = conveyor.connect(url)
    try:
        queue = Queue(connection=store)
        queue.enqueue(add, 1, 2)
        queue.enqueue(fail)
        held = queue.enqueue(hold, str(tmp_path / "never"))
        wait_until(lambda: held.get_status(refresh=True) is JobStatus.STARTED, message="the held job to run")
        cancel_job(held.id, connection=store)  # as the dashboard's Cancel: the worker stops it

        def counted() -> list[dict[str, int]]:
            return [w for w in server.get("/api/v1/workers")["data"] if w["jobs_done"] == 3]  # type: ignore[index]

        (rest,) = wait_until(counted, message="the worker to report its three jobs")
        assert (rest["jobs_failed"], rest["jobs_cancelled"]) == (2, 1)  # jobs_failed is RQ's count: both

        page.goto(server.base)
        expect(page.get_by_test_id("worker-done")).to_have_text("3 · 1 failed · 1 cancelled")
        # jobs ended: the cancelled one too, as the cards count it
        last_minute = page.get_by_role("region", name="Throughput").locator("dt", has_text="Last minute")
        expect(last_minute.locator("+ dd strong")).to_have_text("3")
        expect(page.get_by_role("img", name="Jobs ended per minute")).to_contain_text("3 jobs/min now")
        # a user's key counts its own jobs above, but the throughput is the whole store's
        expect(page.get_by_role("region", name="Throughput")).to_contain_text("Jobs of every user ended per minute")
        result = CliRunner().invoke(cli, ["info", "-u", url], env={"COLUMNS": "200"}, catch_exceptions=False)
        assert re.search(r" 3 +1 +1 +\d+s ago *$", result.output, re.M), result.output  # done, failed, stopped
    finally:
        stop_process(worker)
        server.stop()
        store.close()


def lines(page: Page, selector: str) -> float:
    """How many lines of text the element takes, read in one step inside the page: a
    locator's evaluate finds the element first, and a redraw in between (the page polls)
    would hand it a detached node, with no height or line height (NaN)."""
    return float(
        page.evaluate(
            "s => { const n = document.querySelector(s);"
            " return n.getBoundingClientRect().height / parseFloat(getComputedStyle(n).lineHeight); }",
            selector,
        )
    )


def test_queue_names_and_job_ids_are_not_cut_in_two_on_a_phone(phone: Page, server: ApiServer) -> None:
    counts = {"pending": 1200, "scheduled": 0, "running": 16, "completed": 48210, "failed": 37, "cancelled": 2}
    queues = [{"queue": name, "total": 49465, **counts} for name in ("notifications", "emails")]
    job = {"id": "01a21088-73a3-717f-a81e-99888933b29e", "job_type": "app.jobs.send_welcome_email",
           "status": "cancelled", "queue": "emails", "progress": None, "user_id": None,
           "created_at": "2026-11-25T02:28:27Z", "duration_ms": None, "error": None}  # fmt: skip
    recent = {"data": [job], "total": 1, "pending_count": 0, "running_count": 0, "next_cursor": None}
    phone.route("**/api/v1/queues", lambda route: answer(route, {"data": queues}))
    phone.route(lambda url: urlparse(url).path == "/api/v1/jobs", lambda route: answer(route, recent))
    phone.goto(server.base)
    for name in ("notifications", "emails"):
        selector = f'tr[data-queue="{name}"] th a'
        expect(phone.locator(selector)).to_be_visible()
        assert lines(phone, selector) < 1.5, f"the queue name {name} is cut in two"
    selector = f'tr[data-job-id="{job["id"]}"] a.job-id'
    expect(phone.locator(selector)).to_have_text("…8933b29e")
    assert lines(phone, selector) < 1.5, "the job's short id is cut in two"
    for column in ("Pending", "Running", "Completed", "Failed"):  # the counts that matter keep on a phone
        expect(phone.get_by_role("region", name="Queues").get_by_role("columnheader", name=column)).to_be_visible()
    assert_fits_width(phone)


def test_the_load_shown_is_said_to_be_the_hosts(page: Page, server: ApiServer) -> None:
    load = {"cpu_usage_percent": 37.4, "memory_usage_mb": 2048.2}
    page.route("**/api/v1/jobs/queue/stats", lambda route: answer(route, {**route.fetch().json(), **load}))
    page.goto(server.base)
    facts = page.get_by_role("region", name="System and limits")
    expect(facts.locator("dt")).to_contain_text(["Host CPU", "Host memory"])
    expect(facts.locator("dt", has_text="Host CPU").locator("+ dd")).to_have_text("37% busy")
    expect(facts.locator("dt", has_text="Host memory").locator("+ dd")).to_have_text("2,048 MB used")
    expect(facts).not_to_contain_text("Server")  # GET stats reports the whole machine's, not the server's own


def test_the_workers_rates_are_shown_with_the_limits(page: Page, server: ApiServer) -> None:
    rates = {
        "queue_rates": {"emails": {"count": 100, "period_seconds": 60.0}},
        "job_type_rates": {"myapp.jobs.call_api": {"count": 10, "period_seconds": 1.5}},
        "user_rate": {"count": 5, "period_seconds": 1.0},
    }
    page.route("**/api/v1/jobs/queue/stats", lambda route: answer(route, {**route.fetch().json(), **rates}))
    page.goto(server.base)
    facts = page.get_by_role("region", name="System and limits")
    expect(facts.locator("dt", has_text="Start rates").locator("+ dd")).to_have_text(
        "queue emails: 100 per 60 s · type myapp.jobs.call_api: 10 per 1.5 s · each user: 5 per 1 s"
    )


def test_no_rates_are_shown_as_none(page: Page, server: ApiServer) -> None:
    page.goto(server.base)
    facts = page.get_by_role("region", name="System and limits")
    expect(facts.locator("dt", has_text="Start rates").locator("+ dd")).to_have_text("none")


def test_a_queue_whose_jobs_wait_with_no_worker_listening_says_so(
    page: Page, server: ApiServer, worker: subprocess.Popen[bytes], queue: Queue
) -> None:
    unserved = f"unserved-{uuid.uuid4().hex[:8]}"  # no worker listens to it
    ended = f"ended-{uuid.uuid4().hex[:8]}"
    make_job(queue.connection, queue=unserved)
    make_job(queue.connection, queue=ended, status=JobStatus.FINISHED, ended_at=time.time())
    page.goto(server.base)
    table = page.get_by_role("region", name="Queues").locator("table")
    expect(table.locator(f'tr[data-queue="{unserved}"] th')).to_have_text(f"{unserved} no worker")
    expect(table.locator(f'tr[data-queue="{ended}"] th')).to_have_text(ended)  # nothing waits there
    expect(page.get_by_role("region", name="Workers").locator("tbody tr")).not_to_have_count(0)  # (of other queues)


def test_a_queue_is_paused_and_resumed_from_its_row_and_its_worker_follows(
    page: Page, server: ApiServer, worker: subprocess.Popen[bytes], queue: Queue
) -> None:
    first = queue.enqueue(add, 1, 1)  # (the queue is listed once it holds a job)
    wait_until(lambda: first.get_status(refresh=True) is JobStatus.FINISHED, message="a first job")
    page.goto(server.base)
    row = page.get_by_role("region", name="Queues").locator(f'tr[data-queue="{queue.name}"]')
    try:
        row.get_by_role("button", name="Pause").click()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_contain_text(f"Pause queue {queue.name}?")
        dialog.get_by_role("button", name="Pause queue").click()
        expect(page.locator(".outcome")).to_have_text(f"Queue {queue.name} is paused.")
        expect(row.get_by_test_id("paused")).to_have_text("paused")
        assert queue.is_paused()
        job = queue.enqueue(add, 2, 3)  # (the worker passing it over: tests/worker/test_pause.py)
        row.get_by_role("button", name="Resume").click()  # no question: resuming loses nothing
        expect(page.locator(".outcome")).to_have_text(f"Queue {queue.name} is resumed.")
        expect(row.get_by_test_id("paused")).to_have_count(0)
        wait_until(lambda: job.get_status(refresh=True) is JobStatus.FINISHED, message="the resumed queue's job")
    finally:
        queue.resume()  # the module's other tests use this queue
