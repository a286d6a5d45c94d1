"""Answers a healthy server does not give on demand (no batches endpoints, API errors),
made by the test in SPEC section 3's shapes while everything else comes from the real
server."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Route, expect

from dashboard.servers import ApiServer


def answer(route: Route, body: object, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_the_batches_entry_hides_when_the_server_has_no_batches(page: Page, server: ApiServer) -> None:
    page.route("**/api/v1/batches**", lambda route: answer(route, {"error": "NotFound", "message": "Not Found"}, 404))
    page.goto(server.base)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("count-pending")).to_be_visible()
    expect(page.get_by_role("link", name="Batches")).to_be_hidden()
    expect(page.get_by_role("navigation").get_by_role("link", name="Failed")).to_be_visible()


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
