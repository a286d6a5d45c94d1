// Batches: a paged list and a detail page with progress and counts; start, reschedule
// and cancel. The nav entry shows only when the server has the batches endpoints.

import { ApiError, api, describeError } from "../api.js";
import { confirmAction } from "../confirm.js";
import { field, h, replace } from "../dom.js";
import { dateTime, number, progressBar, STATUSES, statusBadge } from "../format.js";
import { ABSENT_MAX_MS, poll } from "../live.js";
import { changes, errorBox, section } from "./common.js";

const REFRESH_MS = 2000;

const PAGE_SIZE = 25;

export function batchesView(main) {
  const errors = errorBox();
  const table = h("div", {});
  const cursors = [null]; // cursors[i] opens page i; the last one is the current page
  let nextCursor = null;
  const newer = h("button", { type: "button", class: "secondary", disabled: true }, "← Newer");
  const older = h("button", { type: "button", class: "secondary", disabled: true }, "Older →");
  replace(main, h("h1", {}, "Batches"), errors.node, table, h("nav", { class: "pager", "aria-label": "Pages" }, newer, older));
  const draw = changes((batches) => {
    if (!batches.length) {
      replace(table, h("p", { class: "empty muted" }, "No batches."));
      return;
    }
    replace(
      table,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Batches"),
          h("thead", {}, h("tr", {}, ["Batch", "Status", "Progress", "Jobs", "Scheduled start", "Created"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            batches.map((batch) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/batches/${encodeURIComponent(batch.batch_id)}`, class: "cap" }, batch.name || batch.batch_id)),
                h("td", {}, statusBadge(batch.status)),
                h("td", {}, progressBar(batch.progress, `Progress of batch ${batch.name || batch.batch_id}`)),
                h("td", {}, number(batch.total)),
                h("td", {}, dateTime(batch.scheduled_start_time)),
                h("td", {}, dateTime(batch.created_at)),
              ),
            ),
          ),
        ),
      ),
    );
  });
  const load = async () => {
    const answer = await api("batches", { query: { limit: PAGE_SIZE, cursor: cursors[cursors.length - 1] } });
    errors.clear();
    nextCursor = answer.next_cursor ?? null;
    older.disabled = !nextCursor;
    newer.disabled = cursors.length <= 1;
    draw(Array.isArray(answer) ? answer : answer.data ?? []);
  };
  let stop = poll(load, REFRESH_MS, errors.show);
  const restart = () => {
    stop();
    stop = poll(load, REFRESH_MS, errors.show);
  };
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors.push(nextCursor);
    restart();
  });
  newer.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    restart();
  });
  return () => stop();
}

// The jobs list, filtered to one batch's jobs.
const jobsOf = (batchId) => `#/jobs?batch_id=${encodeURIComponent(batchId)}`;

export function batchView(main, params) {
  const id = params.id;
  const errors = errorBox();
  const outcome = h("p", { class: "outcome", role: "status", "aria-live": "polite" });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let absent = false; // the last answer was a 404
  const heading = h("h1", { class: "job-title" }, "Batch ", h("span", { class: "mono break" }, id));
  replace(main, h("p", {}, h("a", { href: "#/batches" }, "← Batches")), heading, errors.node, outcome, body);

  const act = async (verb, options) => {
    if (!(await confirmAction(options.confirm))) return;
    try {
      const answer = (await api(`batches/${encodeURIComponent(id)}/${verb}`, { method: "POST", body: options.body })) || {};
      const message = answer.message || options.done(answer);
      outcome.textContent = message;
      outcome.dataset.kind = "ok";
    } catch (error) {
      outcome.textContent = `Could not ${verb} the batch: ${describeError(error)}`;
      outcome.dataset.kind = "error";
    }
    await load().catch(errors.show);
  };

  const when = h("input", { type: "datetime-local", name: "scheduled_start_time", required: true });
  const rescheduleForm = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (event) => {
        event.preventDefault();
        const date = new Date(when.value);
        if (Number.isNaN(date.getTime())) return;
        act("reschedule", {
          body: { scheduled_start_time: date.toISOString() },
          confirm: { title: "Reschedule this batch?", text: `It will start at ${dateTime(date.toISOString())}.`, confirmLabel: "Reschedule" },
          done: (answer) => `Batch rescheduled to start at ${dateTime(answer.scheduled_start_time ?? date.toISOString())}.`,
        });
      },
    },
    field("New start time", when),
    h("button", { type: "submit", class: "secondary" }, "Reschedule"),
  );

  const render = (value) => {
    if (value.name) replace(heading, "Batch ", value.name);
    const notStarted = !value.started_at && !["completed", "failed", "cancelled"].includes(value.status);
    replace(
      body,
      h(
        "div",
        { class: "job-head" },
        h("span", { "data-testid": "batch-status" }, statusBadge(value.status)),
        h("span", { class: "job-progress" }, progressBar(value.progress, "Batch progress")),
        h(
          "div",
          { class: "actions" },
          notStarted &&
            h(
              "button",
              {
                type: "button",
                onclick: () =>
                  act("start", {
                    confirm: { title: "Start this batch now?", text: "Its jobs are queued at once.", confirmLabel: "Start now" },
                    done: () => "Batch started: its jobs are queued.",
                  }),
              },
              "Start now",
            ),
          !["completed", "cancelled"].includes(value.status) &&
            h(
              "button",
              {
                type: "button",
                class: "danger",
                onclick: () =>
                  act("cancel", {
                    confirm: { title: "Cancel this batch?", text: "Every job of the batch that has not ended is cancelled.", confirmLabel: "Cancel batch", danger: true },
                    done: (answer) => `Batch cancelled: ${answer.cancelled_jobs ?? 0} job${answer.cancelled_jobs === 1 ? "" : "s"} cancelled.`,
                  }),
              },
              "Cancel batch",
            ),
        ),
      ),
      section(
        "Jobs per status",
        h(
          "ul",
          { class: "cards" },
          STATUSES.map((status) =>
            h(
              "li",
              {},
              h(
                "a",
                { class: `card status-${status}`, href: `${jobsOf(value.batch_id)}&status=${status}` },
                h("span", { class: "card-label" }, status),
                h("span", { class: "card-value", "data-testid": `batch-count-${status}` }, number(value.counts?.[status] ?? 0)),
              ),
            ),
          ),
        ),
      ),
      section(
        "Details",
        h(
          "dl",
          { class: "facts" },
          [
            ["Id", h("span", { class: "mono break" }, value.batch_id)],
            ["Name", value.name || "—"],
            ["Owner", value.user_id ?? "—"],
            ["Jobs", h("a", { href: jobsOf(value.batch_id), "data-testid": "batch-jobs" }, `${number(value.total)} — see them`)],
            ["Scheduled start", dateTime(value.scheduled_start_time)],
            ["Created", dateTime(value.created_at)],
            ["Started", dateTime(value.started_at)],
            ["Ended", dateTime(value.completed_at)],
          ].map(([term, text]) => [h("dt", {}, term), h("dd", {}, text)]),
        ),
        notStarted ? rescheduleForm : null,
      ),
    );
  };
  let draw = changes(render);

  // Not there (never was, or gone with its last job): say so in place of what was shown,
  // and keep looking (ever more slowly), so that a batch made with this id later shows up.
  const missing = () => {
    if (absent) return;
    absent = true;
    draw = changes(render); // the batch, when it comes, is drawn whatever was drawn before
    replace(body, h("p", { class: "muted" }, "There is no batch with this id. This page shows it if one appears."));
  };

  const load = async () => {
    let batch;
    try {
      batch = await api(`batches/${encodeURIComponent(id)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) missing();
      throw error;
    }
    absent = false;
    errors.clear();
    draw(batch);
  };
  return poll(load, REFRESH_MS, errors.show, { absentMaxMs: ABSENT_MAX_MS });
}
