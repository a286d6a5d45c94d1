"""The overview's tables: a queue's jobs per status as REST and ``conveyor info`` count them."""

from __future__ import annotations

import json
import time
import uuid

from click.testing import CliRunner
from playwright.sync_api import Page, expect

from conveyor import Queue
from conveyor.cli import cli
from conveyor.status import JobStatus
from conveyor.testing import make_job
from dashboard.servers import ApiServer

COLUMNS = ["pending", "scheduled", "running", "completed", "failed", "cancelled", "total"]


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
    headers = ["Queue", "Pending", "Scheduled", "Running", "Completed", "Failed", "Cancelled", "Total"]
    expect(table.locator("thead th")).to_have_text(headers)  # in a job's order, as the cards above
    row = table.locator(f'tr[data-queue="{name}"]')
    expect(row.locator("td")).to_have_text(["2", "1", "1", "3", "2", "2", "11"])

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
