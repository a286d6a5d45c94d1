"""The Periodic jobs page: what a real scheduler published, the next run as a relative
time, a stale entry told apart, on a laptop and on a phone."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

import jobfuncs
from backend_conformance.helpers import cron_record
from conveyor import Queue
from conveyor.cron import CronScheduler
from conveyor.cron.entry import cron_job
from dashboard.conftest import Shot, assert_fits_width
from dashboard.servers import ApiServer


def test_the_periodic_jobs_page_lists_what_schedulers_run_and_when(
    page: Page, phone: Page, server: ApiServer, queue: Queue, shot: Shot
) -> None:
    page.goto(f"{server.base}/#/cron")
    expect(page.get_by_role("heading", level=1)).to_have_text("Periodic jobs")
    expect(page.locator("main")).to_contain_text("No periodic jobs are scheduled")

    entries = [
        cron_job(jobfuncs.noop, interval="10m", name="ui-cleanup"),
        cron_job(
            jobfuncs.add, args=(1, 2), cron="0 9 * * *", timezone="Europe/Paris", name="ui-report", queue_name="reports"
        ),  # fmt: skip
    ]
    CronScheduler(queue.connection, entries=entries, name="ui-cron").run_once()
    queue.connection.cron_publish([cron_record("ui-dropped", last_seen=time.time() - 600)])
    page.reload()

    table = page.get_by_role("table", name="Periodic jobs")
    expect(table.locator("tbody tr")).to_have_count(3)
    cleanup, report, dropped = (table.locator(f'tr[data-cron="{name}"]') for name in ("ui-cleanup", "ui-report",
                                                                                       "ui-dropped"))  # fmt: skip
    expect(cleanup.get_by_role("rowheader")).to_have_text("ui-cleanup")
    expect(cleanup.locator("td").first).to_have_text("every 10m")
    expect(cleanup.get_by_test_id("cron-next")).to_have_text(re.compile(r"^in \d+ (s|min)$"))
    expect(cleanup.get_by_test_id("cron-last")).to_have_text(re.compile(r"^(\d+ (s|min) ago|now)$"))
    expect(cleanup.locator(".badge")).to_have_text("scheduled")
    expect(report.locator("td").first).to_have_text("0 9 * * * Europe/Paris")
    expect(report.get_by_test_id("cron-next")).to_have_text(re.compile(r"^in \d+ (min|h( \d+ min)?)$"))
    expect(report.get_by_test_id("cron-last")).to_have_text("not yet")
    expect(report).to_contain_text("reports")
    expect(dropped.locator(".badge")).to_have_text("stale")
    expect(page.get_by_role("navigation").get_by_role("link", name="Periodic jobs")).to_have_attribute(
        "aria-current", "page"
    )
    shot(page, "cron-laptop")

    phone.goto(f"{server.base}/#/cron")
    expect(phone.get_by_role("table", name="Periodic jobs").locator("tbody tr")).to_have_count(3)
    assert_fits_width(phone)
