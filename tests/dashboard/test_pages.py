"""The jobs list (filters, pages, search by id), the failed jobs' bulk restart and
delete, a job deleted from its page, and the answers a healthy server does not give on
demand (no batches endpoints, API errors), made by the test in SPEC section 3's shapes
while the rest comes from the real server."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Browser, Page, Response, Route, expect

from conveyor import Queue
from conveyor.ids import new_job_id
from conveyor.status import JobStatus
from conveyor.testing import make_job
from dashboard.conftest import Shot
from dashboard.servers import ApiServer
from jobfuncs import add

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


def test_jobs_made_together_are_told_apart_by_their_short_ids(page: Page, server: ApiServer, queue: Queue) -> None:
    now = time.time()
    ids = [new_job_id() for _ in range(3)]  # as enqueue makes them: time first, so one beginning for all
    for i, job_id in enumerate(ids):
        make_job(queue.connection, id=job_id, queue="together", now=now + i / 1000)
    page.goto(f"{server.base}/#/jobs?queue=together")
    links = page.locator("tbody tr td:nth-child(1) a")
    expect(links).to_have_count(3)
    assert links.all_inner_texts() == [f"…{job_id[-8:]}" for job_id in reversed(ids)]


def test_a_list_filtered_by_status_does_not_count_jobs_it_does_not_show(
    page: Page, server: ApiServer, queue: Queue
) -> None:
    now = time.time()
    make_job(queue.connection, queue="mixed", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now, ended_at=now)
    make_job(queue.connection, queue="mixed", now=now + 1)
    page.goto(f"{server.base}/#/jobs?queue=mixed")
    summary = page.get_by_text(re.compile(r"^\d+ shown"))
    expect(summary).to_have_text("2 shown of 2 · 1 pending · 0 running")
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(summary).to_have_text("1 shown of 1")  # not "· 1 pending" beside a list of failed jobs


def test_a_job_id_typed_in_the_address_with_a_bare_percent_opens_its_page(page: Page, server: ApiServer) -> None:
    page.goto(f"{server.base}/#/jobs/100%")  # no valid %-escape: the page once stopped at "Loading…"
    expect(page.get_by_role("heading", level=1)).to_have_text("Job 100%")
    expect(page.get_by_role("alert")).to_contain_text("Job 100% not found")


def test_a_job_whose_id_names_another_endpoint_says_so(page: Page, server: ApiServer, queue: Queue) -> None:
    make_job(queue.connection, id="stats", queue="addressing")  # the library allows it
    page.goto(f"{server.base}/#/jobs/stats")
    expect(page.get_by_role("alert")).to_contain_text("Job stats cannot be shown here")
    expect(page.locator("main")).not_to_contain_text("undefined")


def test_a_jobs_page_names_the_exceptions_it_is_retried_on_if_any(page: Page, server: ApiServer, queue: Queue) -> None:
    picky = make_job(queue.connection, queue="picky", max_retries=3, retry_on=("ConnectionError", "requests.Timeout"))
    page.goto(f"{server.base}/#/jobs/{picky.id}")
    expect(page.locator("dd", has_text="requests.Timeout")).to_have_text("ConnectionError, requests.Timeout")
    expect(page.locator("dt", has_text="Retried on")).to_have_count(1)
    any_error = make_job(queue.connection, queue="picky", max_retries=3)
    page.goto(f"{server.base}/#/jobs/{any_error.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("pending")
    expect(page.locator("dt", has_text="Retried on")).to_have_count(0)


def test_a_failed_jobs_page_shows_its_whole_traceback(page: Page, server: ApiServer, queue: Queue) -> None:
    now = time.time()
    job = make_job(queue.connection, queue="traced", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now, ended_at=now)
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-error")).to_have_text("ValueError: the input was odd")
    page.get_by_text("Traceback", exact=True).click()
    expect(page.locator("details pre")).to_have_text(TRACEBACK)


def test_a_long_queue_or_user_name_does_not_push_the_other_columns_out_of_sight(
    page: Page, server: ApiServer, queue: Queue
) -> None:
    long_queue, long_user = "Q" * 180, "U" * 180  # names of up to 200 characters are allowed
    make_job(queue.connection, queue=long_queue, user_id=long_user)
    page.goto(f"{server.base}/#/jobs?queue={long_queue}")
    expect(page.locator("tbody tr")).to_have_count(1)
    box = page.locator(".table-wrap")
    assert box.evaluate("node => node.scrollWidth <= node.clientWidth"), "the table scrolls sideways"
    expect(page.locator("thead th").last).to_be_in_viewport()  # Duration, the last column


def test_a_pickled_jobs_result_is_not_shown_as_null(page: Page, server: ApiServer, queue: Queue) -> None:
    job = Queue("pickled", connection=queue.connection, serializer="pickle", is_async=False).enqueue(add, 1, 2)
    assert job.result == 3
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("completed")
    expect(page.get_by_test_id("job-result")).to_have_text("Not shown: this job's result is not stored as JSON.")


def test_direction_controls_in_a_jobs_values_are_shown_escaped(page: Page, server: ApiServer, queue: Queue) -> None:
    # U+202E (right-to-left override) would turn the rest of its line round: shown escaped, as in JSON
    job = make_job(queue.connection, queue="bidi", args=["\u202eevil.txt", "next"], kwargs={"\u2067k": 1})
    page.goto(f"{server.base}/#/jobs/{job.id}")
    values = page.get_by_role("region", name="Arguments").locator("pre")
    expect(values).to_have_text(['["\\u202eevil.txt","next"]', '{"\\u2067k":1}'])


def test_lists_read_job_summaries_and_only_a_jobs_own_page_reads_it_whole(
    page: Page, server: ApiServer, queue: Queue
) -> None:
    now = time.time()
    blob = "x" * 2**20
    heavy = make_job(queue.connection, queue="heavy", status=JobStatus.FAILED, args=[blob],
                     meta=json.dumps({"blob": blob}).encode(), exc_info=TRACEBACK, now=now, ended_at=now)  # fmt: skip
    lists: list[Response] = []
    page.on(
        "response", lambda response: lists.append(response) if urlparse(response.url).path == "/api/v1/jobs" else None
    )
    row = page.locator(f'tbody tr[data-job-id="{heavy.id}"]')
    for view in ("#/", "#/jobs?queue=heavy", "#/failed?queue=heavy"):
        page.goto(f"{server.base}/{view}")
        expect(row).to_be_visible()
    expect(row).to_contain_text("ValueError: the input was odd")  # the failed list's error column
    assert lists, "no list of jobs was read"
    for response in lists:
        assert parse_qs(urlparse(response.url).query)["view"] == ["summary"], response.url
        assert int(response.headers["content-length"]) < 20_000, response.url  # not the job's 2 MiB

    with page.expect_response(lambda response: urlparse(response.url).path == f"/api/v1/jobs/{heavy.id}") as opened:
        row.get_by_role("link").first.click()
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    assert int(opened.value.headers["content-length"]) > 2 * 2**20  # the whole job, on its own page


def test_the_overview_lists_a_quiet_queue_too(page: Page, server: ApiServer, queue: Queue) -> None:
    now = time.time()
    make_job(queue.connection, queue="archive", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now - 3600,
             ended_at=now - 3600)  # fmt: skip
    for i in range(10):  # newer jobs elsewhere: "archive" is not among the recent ones, and no worker serves it
        make_job(queue.connection, queue="chatty", now=now + i / 1000)
    page.goto(server.base)
    row = page.locator('tr[data-queue="archive"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name="1")).to_have_attribute("href", "#/failed?queue=archive")


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
    page.get_by_role("button", name="Delete selected (1)").click()
    expect(dialog).to_contain_text("1 failed job and their errors will be removed for good.")
    dialog.get_by_role("button", name="Delete 1").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted 1 of 1 job.")
    expect(page.get_by_text("No failed jobs.")).to_be_visible()
    assert queue.connection.jobs_get([failed[1]]) == [None]


def test_a_bulk_restart_waits_out_a_rate_limit_instead_of_failing(page: Page, store_url: str, queue: Queue) -> None:
    now = time.time()
    failed = [
        make_job(queue.connection, queue="throttled", status=JobStatus.FAILED, exc_info=TRACEBACK, now=now + i,
                 ended_at=now + i).id
        for i in range(12)
    ]  # fmt: skip
    limited = ApiServer(store_url, env={"CONVEYOR_RATE_LIMIT": "4/s"}).start()
    try:
        page.goto(f"{limited.base}/#/failed?queue=throttled")
        expect(page.locator("tbody tr")).to_have_count(12)
        page.get_by_role("button", name="Restart all failed").click()
        page.get_by_role("dialog").get_by_role("button", name="Restart 12").click()
        expect(page.get_by_role("status")).to_contain_text("Restarted 12 of 12 jobs.", timeout=30_000)
    finally:
        limited.stop()
    assert {record.status for record in queue.connection.jobs_get(failed) if record} == {JobStatus.QUEUED}


def test_an_ended_job_is_deleted_from_its_page(page: Page, server: ApiServer, queue: Queue) -> None:
    now = time.time()
    job = make_job(queue.connection, status=JobStatus.FAILED, exc_info=TRACEBACK, now=now, ended_at=now)
    page.goto(f"{server.base}/#/jobs/{job.id}")
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("its arguments and its error will be removed for good")
    dialog.get_by_role("button", name="Delete job").click()
    expect(page.get_by_role("status")).to_have_text(f"Job {job.id} deleted.")
    expect(page.get_by_role("link", name="Back to the jobs")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    assert queue.connection.jobs_get([job.id]) == [None]


def answer(route: Route, body: object, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_the_batches_entry_hides_when_the_server_has_no_batches(page: Page, server: ApiServer) -> None:
    page.route("**/api/v1/batches**", lambda route: answer(route, {"error": "NotFound", "message": "Not Found"}, 404))
    page.goto(server.base)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("count-pending")).to_be_visible()
    expect(page.get_by_role("link", name="Batches")).to_be_hidden()
    expect(page.get_by_role("navigation").get_by_role("link", name="Failed")).to_be_visible()


def test_the_batches_entry_stays_when_the_store_is_down_as_the_page_loads(page: Page, server: ApiServer) -> None:
    down = {"error": "BackendUnavailable", "message": "The job store cannot be reached"}
    page.route("**/api/v1/batches**", lambda route: answer(route, down, 503))
    page.goto(server.base)
    expect(page.get_by_test_id("count-pending")).to_be_visible()
    batches = page.get_by_role("navigation").get_by_role("link", name="Batches")
    expect(batches).to_be_visible()  # once hidden until a reload, the store back or not
    batches.click()
    expect(page.get_by_role("alert")).to_have_text("Error: The job store cannot be reached (BackendUnavailable)")


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


def test_a_worker_asked_to_shut_down_says_so(page: Page, server: ApiServer) -> None:
    worker = {
        "name": "leaving", "host": "host-a", "pid": 7, "queues": ["default"], "state": "busy", "current_job_id": None,
        "current_job_ids": [], "concurrency": 1, "pool": "threads", "jobs_done": 3, "jobs_failed": 1,
        "working_time": 0.5, "started_at": None, "last_heartbeat": None, "healthy": True, "shutdown_requested": True,
    }  # fmt: skip
    page.route("**/api/v1/workers", lambda route: answer(route, {"data": [worker]}, 200))
    page.goto(server.base)
    expect(page.locator('[data-worker="leaving"]')).to_contain_text("busy · shutting down")
    expect(page.locator('[data-worker="leaving"]')).to_contain_text("3 · 1 failed")


def test_a_workers_last_heartbeat_of_another_day_shows_its_date(page: Page, server: ApiServer) -> None:
    days_ago = datetime.now(UTC) - timedelta(days=2)
    worker = {
        "name": "silent", "host": "host-a", "pid": 7, "queues": ["default"], "state": "idle", "current_job_id": None,
        "current_job_ids": [], "concurrency": 1, "pool": "threads", "jobs_done": 0, "jobs_failed": 0,
        "jobs_cancelled": 0, "working_time": 0.0, "started_at": None,
        "last_heartbeat": days_ago.isoformat().replace("+00:00", "Z"), "healthy": False, "shutdown_requested": False,
    }  # fmt: skip
    page.route("**/api/v1/workers", lambda route: answer(route, {"data": [worker]}, 200))
    page.goto(server.base)
    row = page.locator('[data-worker="silent"]')
    expect(row).to_contain_text("unresponsive")
    expect(row.locator("td").last).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"))  # not a bare time


def test_the_jobs_filters_line_up(page: Page, server: ApiServer) -> None:
    page.goto(f"{server.base}/#/jobs")
    boxes = [page.get_by_label(name, exact=True).bounding_box() for name in ("Queue", "Job type", "Batch")]
    # the batch id's box (monospace, smaller type) was lower than the others beside it
    assert len({(round(box["y"]), round(box["height"])) for box in boxes if box}) == 1, boxes


def luminance(rgb: str) -> float:
    """The relative luminance (WCAG 2) of a computed 'rgb(r, g, b)' colour."""
    channels = [int(part) / 255 for part in re.findall(r"\d+", rgb)[:3]]
    assert len(channels) == 3, rgb
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


CANCEL_BUTTON_COLOURS = """() => {
  const button = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === "Cancel");
  const style = button && getComputedStyle(button);
  return style && style.color && style.backgroundColor ? [style.color, style.backgroundColor] : null;
}"""


def test_a_danger_buttons_text_is_readable_in_the_dark_scheme_too(
    browser: Browser, server: ApiServer, queue: Queue
) -> None:
    waiting = make_job(queue.connection, queue="parked-dark")
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(f"{server.base}/#/jobs/{waiting.id}")
            button = page.get_by_role("button", name="Cancel")
            expect(button).to_be_visible()
            # read in one step on the button attached now: the page redraws the job, and a
            # button detached between finding and reading it has no computed colours
            text, back = page.wait_for_function(CANCEL_BUTTON_COLOURS).json_value()
            light, dark = sorted((luminance(text), luminance(back)), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= 4.5, f"{scheme}: {text} on {back}"  # WCAG AA for its text
        finally:
            context.close()
