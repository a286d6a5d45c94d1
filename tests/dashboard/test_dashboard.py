"""The dashboard in a real headless Chromium against a real server and worker."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conveyor import Queue
from conveyor.batch import Batch
from dashboard.conftest import BACKENDS, Shot, assert_fits_width
from dashboard.jobs import hold
from dashboard.servers import ApiServer
from jobfuncs import add
from waiting import wait_until

pytestmark = pytest.mark.parametrize("stack", BACKENDS, indirect=True, scope="module")


def job_status(server: ApiServer, job_id: str) -> str:
    answer = server.get(f"/api/v1/jobs/{job_id}")
    assert isinstance(answer, dict)
    return str(answer["status"])


def test_overview_shows_a_new_job_run_to_completed_without_a_reload(
    page: Page,
    phone: Page,
    server: ApiServer,
    worker: subprocess.Popen[bytes],
    queue: Queue,
    tmp_path: Path,
    shot: Shot,
) -> None:
    page.goto(server.base)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("link", name="Batches")).to_be_visible()
    expect(page.locator("[data-worker]")).to_have_count(1)
    expect(page.locator("[data-worker]")).to_contain_text("healthy")
    loads = []
    page.on("load", lambda _: loads.append(1))

    release = tmp_path / "release"
    job = queue.enqueue(hold, str(release))
    row = page.locator(f'tr[data-job-id="{job.id}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "running")
    expect(page.get_by_test_id("count-running")).to_contain_text("1")
    expect(page.locator("[data-worker]")).to_contain_text(job.id[-8:])
    expect(page.locator('tr[data-queue="default"]')).to_contain_text("1")
    shot(page, "overview-running-laptop")

    release.touch()
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator(".badge")).to_have_text("completed")
    expect(page.get_by_test_id("count-running")).to_contain_text("0")
    assert loads == [], "the page reloaded"
    shot(page, "overview-laptop")

    phone.goto(server.base)
    expect(phone.locator(f'tr[data-job-id="{job.id}"]')).to_have_attribute("data-status", "completed")
    expect(phone.locator("[data-worker]")).to_have_count(1)
    shot(phone, "overview-phone")
    assert_fits_width(phone)
    assert_fits_width(page)


def test_a_running_job_is_cancelled_from_its_page(
    page: Page,
    phone: Page,
    server: ApiServer,
    worker: subprocess.Popen[bytes],
    queue: Queue,
    tmp_path: Path,
    shot: Shot,
) -> None:
    job = queue.enqueue(hold, str(tmp_path / "never"), 0.4, str(tmp_path / "advance"))
    wait_until(lambda: job_status(server, job.id) == "running", message="the job to run")
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page).to_have_title("Job · conveyor")
    expect(page.get_by_label("Job progress")).to_have_attribute("value", "0.4")
    expect(page.locator("main")).to_contain_text("4 of 10")
    (tmp_path / "advance").touch()
    expect(page.get_by_label("Job progress")).to_have_attribute("value", "0.8")
    expect(page.locator(".job-progress")).to_contain_text("80%")
    expect(page.locator("main")).to_contain_text("8 of 10")
    phone.goto(f"{server.base}/#/jobs/{job.id}")
    expect(phone.get_by_test_id("job-status")).to_have_text("running")
    shot(phone, "job-running-phone")
    assert_fits_width(phone)
    phone.goto(f"{server.base}/#/jobs")
    expect(phone.locator(f'tr[data-job-id="{job.id}"]')).to_be_visible()
    assert_fits_width(phone)
    phone.goto(f"{server.base}/#/failed")
    expect(phone.get_by_role("heading", name="Failed jobs")).to_be_visible()
    assert_fits_width(phone)

    page.get_by_role("button", name="Stop and cancel").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("cancelling stops it")
    shot(page, "job-cancel-dialog-laptop")
    dialog.get_by_role("button", name="Cancel job").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Job cancelled successfully")).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_role("status").filter(has_text="Job cancelled successfully")).to_be_focused()
    expect(page.get_by_role("button", name="Restart")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("cancel", re.I))).to_have_count(0)
    shot(page, "job-cancelled-laptop")
    assert job_status(server, job.id) == "cancelled"


def test_a_dialog_declined_changes_nothing_and_a_missing_job_says_so(
    page: Page, server: ApiServer, queue: Queue
) -> None:
    job = Queue("parked", connection=queue.connection).enqueue(hold, "unused")
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    page.get_by_role("button", name="Cancel").focus()  # by keyboard: Enter opens, Escape closes
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog").get_by_role("button", name="Keep it")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Keep it").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    assert job_status(server, job.id) == "pending"

    page.get_by_text("What the backend holds").click()
    expect(page.locator("details.backend")).to_contain_text("yes, position 0")

    page.goto(f"{server.base}/#/jobs/no-such-job")
    expect(page.get_by_role("alert")).to_contain_text("Job no-such-job not found (JobNotFoundError)")


def test_batches_are_started_rescheduled_and_cancelled_from_their_pages(
    page: Page, server: ApiServer, worker: subprocess.Popen[bytes], queue: Queue, shot: Shot
) -> None:
    later = datetime.now(UTC) + timedelta(days=30)
    specs = [Queue.prepare_data(add, args=(i, i)) for i in range(3)]
    nightly = Batch.create(specs, name="nightly import", scheduled_start=later, connection=queue.connection)
    specs = [Queue.prepare_data(add, args=(i, 1)) for i in range(2)]
    spare = Batch.create(specs, name="spare run", scheduled_start=later, connection=queue.connection)

    page.goto(f"{server.base}/#/batches")
    expect(page.get_by_role("link", name="spare run")).to_be_visible()
    page.get_by_role("link", name="nightly import").click()
    expect(page.get_by_test_id("batch-status")).to_have_text("scheduled")
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch nightly import")
    expect(page.get_by_test_id("batch-count-scheduled")).to_have_text("3")
    page.get_by_label("New start time").fill("2031-01-02T09:30")
    page.get_by_role("button", name="Reschedule").click()
    page.get_by_role("dialog").get_by_role("button", name="Reschedule").click()
    expect(page.get_by_role("status")).to_contain_text("Batch rescheduled to start at 2031-01-02 09:30")
    expect(page.locator("main")).to_contain_text("2031-01-02 09:30:00")
    shot(page, "batch-scheduled-laptop")

    page.get_by_role("button", name="Start now").click()
    page.get_by_role("dialog").get_by_role("button", name="Start now").click()
    expect(page.get_by_test_id("batch-status")).to_have_text("completed")
    expect(page.get_by_label("Batch progress")).to_have_attribute("value", "1")
    expect(page.get_by_test_id("batch-count-completed")).to_have_text("3")
    shot(page, "batch-completed-laptop")

    page.get_by_test_id("batch-count-completed").click()  # its card opens the batch's jobs of that status
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.get_by_role("textbox", name="Batch")).to_have_value(nightly.id)
    expect(page.locator("main tbody tr")).to_have_count(3)
    for job_id in nightly.get_job_ids():
        expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_attribute("data-status", "completed")

    page.goto(f"{server.base}/#/batches/{spare.id}")
    page.get_by_role("button", name="Cancel batch").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel batch").click()
    expect(page.get_by_role("status")).to_have_text("Batch cancelled: 2 jobs cancelled.")
    expect(page.get_by_test_id("batch-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("batch-count-cancelled")).to_have_text("2")
    assert Batch.fetch(nightly.id, connection=queue.connection).progress == 1.0
