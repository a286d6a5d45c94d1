"""Views whose endpoints the server does not have yet (batches), and API errors that a
healthy server does not give on demand, with those answers made by the test (SPEC
section 3's shapes) while everything else comes from the real server."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, Route, expect

from dashboard.conftest import Shot
from dashboard.servers import ApiServer

BATCH = {
    "batch_id": "b-1",
    "name": "nightly import",
    "status": "scheduled",
    "scheduled_start_time": "2030-01-01T02:00:00Z",
    "created_at": "2026-11-23T08:00:00Z",
    "started_at": None,
    "completed_at": None,
    "total": 4,
    "counts": {"pending": 0, "scheduled": 4, "running": 0, "completed": 0, "failed": 0, "cancelled": 0},
    "progress": 0.0,
}


def answer(route: Route, body: object, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_batches_list_detail_and_cancel(page: Page, server: ApiServer, shot: Shot) -> None:
    batch: dict[str, Any] = dict(BATCH)
    posts: list[str] = []

    def batches(route: Route) -> None:
        request = route.request
        path = request.url.split("/api/v1/", 1)[1].split("?", 1)[0]
        if request.method == "POST":
            posts.append(path)
            batch.update(status="cancelled", progress=1.0, counts={**batch["counts"], "scheduled": 0, "cancelled": 4})
            answer(
                route, {"batch_id": "b-1", "status": "cancelled", "scheduled_job_cancelled": True, "cancelled_jobs": 4}
            )
        elif path == "batches":
            answer(route, {"data": [batch]})
        elif path == "batches/b-1":
            answer(route, batch)
        else:
            answer(route, {"error": "BatchNotFoundError", "message": "Batch not found"}, 404)

    page.route("**/api/v1/batches**", batches)
    page.goto(server.base)
    page.get_by_role("link", name="Batches").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="nightly import").click()
    expect(page.get_by_test_id("batch-status")).to_have_text("scheduled")
    expect(page.locator("main")).to_contain_text("2030-01-01")
    expect(page.get_by_role("button", name="Start now")).to_be_visible()
    expect(page.get_by_label("New start time")).to_be_visible()
    shot(page, "batch-laptop")

    page.get_by_role("button", name="Cancel batch").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel batch").click()
    expect(page.get_by_role("status")).to_have_text("Batch cancelled: 4 jobs cancelled.")
    expect(page.get_by_test_id("batch-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel batch")).to_have_count(0)
    assert posts == ["batches/b-1/cancel"]


def test_api_errors_are_shown_as_sentences_and_clear_when_the_api_recovers(page: Page, server: ApiServer) -> None:
    failing = {"on": True}

    def stats(route: Route) -> None:
        if failing["on"]:
            answer(route, {"error": "BackendUnavailable", "message": "The job store cannot be reached"}, 503)
        else:
            route.continue_()

    page.route("**/api/v1/jobs/stats", stats)
    page.goto(server.base)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Error: The job store cannot be reached (BackendUnavailable)")
    expect(page.locator("#live-indicator")).to_have_text("offline")
    expect(page.locator("main")).not_to_contain_text("{")
    failing["on"] = False
    expect(alert).to_be_hidden()
    expect(page.locator("#live-indicator")).to_have_text("live")
