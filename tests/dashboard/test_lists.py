"""The jobs list (filters, pages, search by id) and the failed jobs' bulk restart."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from conveyor import Queue
from conveyor.status import JobStatus
from conveyor.testing import make_job
from dashboard.conftest import Shot
from dashboard.servers import ApiServer

TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: the input was odd'


def test_the_jobs_list_filters_pages_and_finds_a_job_by_id(
    page: Page, server: ApiServer, queue: Queue, shot: Shot
) -> None:
    now = time.time()
    make_job(queue.connection, queue="paged", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now, ended_at=now)
    ids = [make_job(queue.connection, queue="paged", now=now + i / 1000).id for i in range(30)]
    page.goto(f"{server.base}/#/jobs?queue=paged")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("main")).to_contain_text("25 shown of 31")
    expect(rows.first).to_have_attribute("data-job-id", ids[-1])  # newest first
    shot(page, "jobs-laptop")

    page.get_by_role("button", name="Older").click()
    expect(rows).to_have_count(6)
    expect(page.get_by_role("button", name="Older")).to_be_disabled()
    page.get_by_role("button", name="Newer").click()
    expect(rows).to_have_count(25)

    page.get_by_label("Status").select_option("failed")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(f"{server.base}/#/jobs?status=failed&queue=paged")
    expect(rows.first.locator(".badge")).to_have_text("failed")

    page.get_by_label("Job id").fill(ids[3])
    page.get_by_label("Job id").press("Enter")
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    expect(page.get_by_role("heading", level=1)).to_contain_text(ids[3])


def test_failed_jobs_are_restarted_in_bulk(page: Page, server: ApiServer, queue: Queue, shot: Shot) -> None:
    now = time.time()
    failed = [
        make_job(
            queue.connection, queue="flaky", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now + i, ended_at=now + i
        ).id
        for i in range(3)
    ]
    page.goto(f"{server.base}/#/failed?queue=flaky")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("ValueError: the input was odd")
    page.get_by_label(f"Select job {failed[0]}").check()
    page.get_by_label(f"Select job {failed[2]}").check()
    expect(page.get_by_role("button", name="Restart selected (2)")).to_be_enabled()
    shot(page, "failed-laptop")

    page.get_by_role("button", name="Restart selected (2)").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("2 failed jobs will go back to their queues")
    dialog.get_by_role("button", name="Restart 2").click()
    expect(page.get_by_role("status")).to_contain_text("Restarted 2 of 2 jobs.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job-id", failed[1])
    statuses = [server.get(f"/api/v1/jobs/{job_id}")["status"] for job_id in failed]  # type: ignore[index]
    assert statuses == ["pending", "failed", "pending"]

    page.get_by_label("Select all shown").check()
    expect(page.get_by_role("button", name="Restart selected (1)")).to_be_enabled()
