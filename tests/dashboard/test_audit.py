"""The Audit page: the actions taken through the dashboard itself are there, newest
first, with who took them, and their targets link to their pages."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from conveyor import Queue
from dashboard.conftest import assert_fits_width
from dashboard.servers import ApiServer


def test_an_action_taken_in_the_dashboard_shows_on_the_audit_page(
    page: Page, phone: Page, server: ApiServer, queue: Queue
) -> None:
    name = f"held-{uuid.uuid4().hex[:8]}"
    held = Queue(name, connection=queue.connection)
    held.enqueue("jobfuncs.noop")  # (the overview lists a queue once it holds a job)
    page.goto(server.base)
    row = page.get_by_role("region", name="Queues").locator(f'tr[data-queue="{name}"]')
    row.get_by_role("button", name="Pause").click()
    page.locator("dialog#confirm").get_by_role("button", name="Pause queue").click()
    expect(row.get_by_test_id("paused")).to_be_visible()
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_test_id("paused")).to_have_count(0)

    # shown: the server (no keys) lets anyone read it
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    table = page.get_by_role("table", name="Audit log")
    newest = table.locator("tbody tr").first
    expect(newest.locator("td").nth(2)).to_have_text("queue.resume")
    expect(newest.locator("td").nth(1)).to_have_text("(no key) admin")
    expect(newest.get_by_role("link", name=name)).to_have_attribute("href", f"#/jobs?queue={name}")
    expect(table.locator("tbody tr").nth(1).locator("td").nth(2)).to_have_text("queue.pause")

    phone.goto(f"{server.base}/#/audit")
    expect(phone.get_by_role("table", name="Audit log").locator("tbody tr").first).to_be_visible()
    assert_fits_width(phone)
