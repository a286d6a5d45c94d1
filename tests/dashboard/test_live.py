"""The live indicator and a job's page over a job that is not there (yet, or any more),
or that someone else changes after it ended: the page keeps following it, and the
indicator says whether the page gets its updates, not whether the job exists."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from conveyor import Job, Queue
from conveyor.status import BatchStatus, JobStatus
from conveyor.testing import make_job, make_record
from conveyor.types import BatchRecord
from dashboard.jobs import hold
from dashboard.servers import ApiServer

TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: the input was odd'
MISSING = "There is no job with this id. This page shows it if one appears."
BATCH_MISSING = "There is no batch with this id. This page shows it if one appears."

# Every timer the page's scripts set fires 20 times sooner, and the wait each asked for is
# kept in window.waits: a poll's back-off shows in seconds without waiting it out.
HURRY = """
window.waits = [];
const setTimeoutAsWritten = window.setTimeout;
window.setTimeout = (callback, ms = 0, ...rest) => {
  window.waits.push(ms);
  return setTimeoutAsWritten(callback, ms / 20, ...rest);
};
"""


def test_a_job_page_opened_before_its_job_exists_shows_it_once_it_appears(
    page: Page, server: ApiServer, worker: subprocess.Popen[bytes], queue: Queue, tmp_path: Path
) -> None:
    job_id = f"later-{uuid.uuid4().hex[:12]}"
    indicator = page.locator("#live-indicator")
    page.goto(f"{server.base}/#/jobs/{job_id}")
    expect(page.get_by_role("alert")).to_contain_text(f"Job {job_id} not found (JobNotFoundError)")
    expect(page.locator("main")).to_contain_text(MISSING)
    expect(indicator).to_have_text("live")  # the server answers: a job not there is no outage

    release = tmp_path / "release"
    queue.enqueue(hold, str(release), job_id=job_id)  # the worker runs it
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page.get_by_label("Job progress")).to_have_attribute("value", "0.5")
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(indicator).to_have_text("live")
    release.touch()
    expect(page.get_by_test_id("job-status")).to_have_text("completed")
    expect(page.get_by_test_id("job-result")).to_have_text('"released"')


def test_a_job_page_asks_for_a_job_not_there_ever_more_slowly(page: Page, server: ApiServer) -> None:
    page.add_init_script(HURRY)
    page.goto(f"{server.base}/#/jobs/never-{uuid.uuid4().hex[:12]}")
    expect(page.locator("main")).to_contain_text(MISSING)
    page.wait_for_function("window.waits.filter((ms) => ms === 10000).length >= 2")
    assert page.evaluate("window.waits.slice(0, 4)") == [2000, 4000, 8000, 10000]


def test_the_indicator_shows_the_state_of_the_page_it_is_on(page: Page, server: ApiServer) -> None:
    indicator = page.locator("#live-indicator")
    page.goto(f"{server.base}/#/jobs/never-{uuid.uuid4().hex[:12]}")
    expect(page.get_by_role("alert")).to_contain_text("not found")
    expect(indicator).to_have_text("live")
    page.goto(f"{server.base}/#/no-such-page")  # nothing on it updates: no state to show
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(indicator).to_be_hidden()
    page.goto(f"{server.base}/#/jobs")
    expect(indicator).to_have_text("live")


def test_a_job_deleted_while_its_page_is_open_is_said_to_be_gone(page: Page, server: ApiServer, queue: Queue) -> None:
    indicator = page.locator("#live-indicator")
    waiting = make_job(queue.connection, queue="parked-live")  # no worker serves this queue
    page.goto(f"{server.base}/#/jobs/{waiting.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    assert queue.connection.job_delete(waiting.id)
    expect(page.locator("main")).to_contain_text(MISSING)
    expect(page.get_by_role("alert")).to_contain_text(f"Job {waiting.id} not found")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(indicator).to_have_text("live")

    now = time.time()
    ended = make_job(queue.connection, queue="parked-live", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now,
                     ended_at=now)  # fmt: skip
    page.goto(f"{server.base}/#/jobs/{ended.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    assert queue.connection.job_delete(ended.id)  # its page once went on showing it
    expect(page.locator("main")).to_contain_text(MISSING)
    expect(indicator).to_have_text("live")


def test_an_ended_job_restarted_elsewhere_shows_its_new_run(page: Page, server: ApiServer, queue: Queue) -> None:
    now = time.time()
    job = make_job(queue.connection, queue="parked-live", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now,
                   ended_at=now)  # fmt: skip
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    expect(page.get_by_test_id("job-error")).to_have_text("ValueError: the input was odd")
    Job.fetch(job.id, connection=queue.connection).requeue()  # from the CLI or another tab, say
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()


def test_a_batch_page_opened_before_its_batch_exists_asks_ever_more_slowly_and_shows_it_once_it_appears(
    page: Page, server: ApiServer, queue: Queue, worker: subprocess.Popen[bytes]
) -> None:
    """(The worker serves other queues: its housekeeping ends the batch left without jobs
    at the end, as a deployment's workers would; run alone, nothing did, and it stayed.)"""
    page.add_init_script(HURRY)
    batch_id = f"later-{uuid.uuid4().hex[:12]}"
    page.goto(f"{server.base}/#/batches/{batch_id}")
    expect(page.locator("main")).to_contain_text(BATCH_MISSING)
    expect(page.get_by_role("alert")).to_contain_text("not found")
    expect(page.locator("#live-indicator")).to_have_text("live")
    # every 2, 4, 8, then 10 seconds (once every 2 for as long as the page stayed open)
    page.wait_for_function("window.waits.filter((ms) => ms === 10000).length >= 2")
    assert page.evaluate("window.waits.slice(0, 4)") == [2000, 4000, 8000, 10000]

    now = time.time()
    job = make_record(queue="parked-live", batch_id=batch_id, now=now)
    batch = BatchRecord(batch_id, total=1, created_at=now, status=BatchStatus.RUNNING, started_at=now, name="late run")
    queue.connection.batch_create(batch, [job], [], now)
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch late run")
    expect(page.get_by_test_id("batch-count-pending")).to_have_text("1")
    expect(page.get_by_role("alert")).to_be_hidden()
    page.evaluate("window.waits.length = 0")
    page.wait_for_function("window.waits.length >= 2")
    assert set(page.evaluate("window.waits")) == {2000}  # found: every 2 s again

    queue.connection.job_delete(job.id)  # the batch goes with its last job
    expect(page.locator("main")).to_contain_text(BATCH_MISSING)
    expect(page.get_by_role("button", name="Cancel batch")).to_have_count(0)
