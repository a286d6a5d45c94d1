// One job: its arguments, result or error, progress, timestamps, retries, dependencies
// and batch, kept live by the job's event stream, with cancel, restart and delete buttons.

import { ApiError, api, describeError } from "../api.js";
import { confirmAction } from "../confirm.js";
import { h, replace } from "../dom.js";
import { dateTime, duration, json, progressBar, statusBadge, TERMINAL } from "../format.js";
import { ABSENT_MAX_MS, poll, watchJob } from "../live.js";
import { errorBox, jobLink, section } from "./common.js";

const CANCELLABLE = new Set(["pending", "scheduled", "running"]);
const RESTARTABLE = new Set(["failed", "cancelled"]);
const REFRESH_MS = 2000;

export function jobView(main, params) {
  const id = params.id;
  const path = `jobs/${encodeURIComponent(id)}`;
  const errors = errorBox();
  const outcome = h("p", { class: "outcome", role: "status", "aria-live": "polite", tabindex: "-1" });
  const body = h("div", { class: "job-body" }, h("p", { class: "muted" }, "Loading…"));
  const heading = h("h1", { class: "job-title" }, "Job ", h("span", { class: "mono break" }, id));
  let job = null;
  let stopWatching = () => {};
  let stopPolling = () => {};
  let watching = false; // its event stream (or long polls) is followed
  let absent = false; // the last answer was a 404
  let busy = false;
  let deleted = false; // deleted from this page: a read in flight then answers "not found", which is no news

  replace(main, h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")), heading, errors.node, outcome, body, backendPanel(id));

  const act = async (verb) => {
    const cancel = verb === "cancel";
    const running = job.status === "running";
    const ok = await confirmAction({
      title: cancel ? "Cancel this job?" : "Restart this job?",
      text: cancel
        ? running
          ? `Job ${id} is running: cancelling stops it where it is.`
          : `Job ${id} will not run.`
        : `Job ${id} goes back to its queue "${job.queue}" and runs again from the start.`,
      confirmLabel: cancel ? "Cancel job" : "Restart job",
      danger: cancel,
    });
    if (!ok) return;
    busy = true;
    draw();
    try {
      const answer = await api(`jobs/${verb}/${encodeURIComponent(id)}`, { method: "POST" });
      outcome.textContent = `${answer.message} (status: ${answer.status}).`;
      outcome.dataset.kind = "ok";
    } catch (error) {
      outcome.textContent = `Could not ${verb} the job: ${describeError(error)}`;
      outcome.dataset.kind = "error";
    } finally {
      busy = false;
      await refresh().catch(errors.show);
      outcome.focus(); // the button pressed may be gone: keep the keyboard near what happened
    }
  };

  const remove = async () => {
    const ok = await confirmAction({
      title: "Delete this job?",
      text: `Job ${id}, its arguments and its ${job.status === "completed" ? "result" : "error"} will be removed for good.`,
      confirmLabel: "Delete job",
      danger: true,
    });
    if (!ok) return;
    busy = true;
    draw();
    try {
      await api(path, { method: "DELETE" });
      deleted = true;
    } catch (error) {
      outcome.textContent = `Could not delete the job: ${describeError(error)}`;
      outcome.dataset.kind = "error";
      busy = false;
      await refresh().catch(errors.show);
      outcome.focus();
      return;
    }
    stopWatching();
    stopPolling();
    job = null;
    outcome.textContent = `Job ${id} deleted.`;
    outcome.dataset.kind = "ok";
    replace(body, h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")));
    outcome.focus();
  };

  const draw = () => {
    if (!job) return;
    const actions = h(
      "div",
      { class: "actions" },
      CANCELLABLE.has(job.status) &&
        h("button", { type: "button", class: "danger", disabled: busy, onclick: () => act("cancel") }, job.status === "running" ? "Stop and cancel" : "Cancel"),
      RESTARTABLE.has(job.status) && h("button", { type: "button", disabled: busy, onclick: () => act("restart") }, "Restart"),
      TERMINAL.has(job.status) && h("button", { type: "button", class: "danger", disabled: busy, onclick: remove }, "Delete"),
    );
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.textContent : null;
    replace(
      body,
      h(
        "div",
        { class: "job-head" },
        h("span", { "data-testid": "job-status" }, statusBadge(job.status)),
        h("span", { class: "job-progress" }, progressBar(job.progress, "Job progress")),
        actions,
      ),
      h(
        "div",
        { class: "grid-2" },
        section(
          "Details",
          h(
            "dl",
            { class: "facts" },
            fact("Type", h("span", { class: "mono" }, job.job_type)),
            fact("Queue", h("a", { href: `#/jobs?queue=${encodeURIComponent(job.queue)}` }, job.queue)),
            fact("Priority", String(job.priority)),
            fact("Retries", `${job.retry_count} of ${job.max_retries}`),
            job.retry_on && job.retry_on.length ? fact("Retried on", h("span", { class: "mono" }, job.retry_on.join(", "))) : null,
            fact("User", job.user_id ?? "—"),
            fact("Worker", job.worker_id ?? "—"),
            fact("Batch", job.batch_id ? h("a", { href: `#/batches/${encodeURIComponent(job.batch_id)}`, class: "mono" }, job.batch_id) : "—"),
            fact("Depends on", job.depends_on && job.depends_on.length ? job.depends_on.flatMap((dep, i) => (i ? [", ", jobLink(dep)] : [jobLink(dep)])) : "—"),
          ),
        ),
        section(
          "Timeline",
          h(
            "dl",
            { class: "facts" },
            fact("Created", dateTime(job.created_at)),
            fact("Started", dateTime(job.started_at)),
            fact("Ended", dateTime(job.completed_at)),
            fact("Run time", runTime(job)),
            metricsFacts(job.metrics),
          ),
        ),
      ),
      section(
        "Arguments",
        job.input
          ? [h("h3", {}, "args"), h("pre", {}, json(job.input.args)), h("h3", {}, "kwargs"), h("pre", {}, json(job.input.kwargs))]
          : h("p", { class: "muted" }, "Not shown: this job's arguments are not stored as JSON."),
      ),
      resultSection(job),
      job.meta && Object.keys(job.meta).length ? section("Meta", h("pre", {}, json(job.meta))) : null,
    );
    if (focused) {
      const again = [...body.querySelectorAll("button")].find((button) => button.textContent === focused);
      if (again) again.focus();
    }
  };

  /** Read the job (and start following its events again if it came back to life). */
  const refresh = async () => {
    try {
      if (job && TERMINAL.has(job.status) && !(await changedSinceEnded())) {
        if (!deleted) errors.clear();
        return;
      }
      const answer = await api(path);
      if (deleted) return; // (read before the deletion: the page says it is gone)
      if (!answer || answer.id !== id) {
        // An id the library allows but the API's URLs cannot name ("stats": GET /jobs/stats is the statistics).
        throw new ApiError(404, "NotAddressable", `Job ${id} cannot be shown here: its id is the path of another API endpoint.`);
      }
      job = answer;
      absent = false;
    } catch (error) {
      if (deleted) return;
      if (error instanceof ApiError && error.status === 404 && error.error !== "NotAddressable") missing();
      throw error;
    }
    errors.clear();
    draw();
    if (!watching && !TERMINAL.has(job.status)) watch(); // it appeared, or was restarted elsewhere
  };

  // An ended job changes only when someone restarts or deletes it: its page asks for the
  // small status view, and reads the whole job (arguments, result) only when that moved.
  const changedSinceEnded = async () => {
    const now = await api(`jobs/status/${encodeURIComponent(id)}`);
    return now.status !== job.status || now.completed_at !== job.completed_at;
  };

  // Not there (never was, or deleted): say so in place of what was shown, and keep
  // looking, so that a job made with this id later shows up.
  const missing = () => {
    if (absent) return;
    job = null;
    absent = true;
    replace(body, h("p", { class: "muted" }, "There is no job with this id. This page shows it if one appears."));
  };

  // The stream says when something changed; the poll keeps progress moving even if only
  // the long-poll fallback (status changes only) is available, and notices a restart or
  // a deletion once the stream has ended with the job.
  const watch = () => {
    stopWatching();
    watching = true;
    stopWatching = watchJob(id, (message) => {
      if (message.event === "job_complete" || message.event === "error") watching = false;
      refresh().catch(errors.show);
    });
  };

  watch();
  stopPolling = poll(
    refresh,
    REFRESH_MS,
    (error) => {
      errors.show(error);
      if (error.error === "NotAddressable") stopPolling(); // asking again cannot help
    },
    { absentMaxMs: ABSENT_MAX_MS },
  );
  return () => {
    stopWatching();
    stopPolling();
  };
}

/**
 * "What the backend holds": the job as the store itself sees it (queue position, lease,
 * registries), read when opened; for finding out why a job does not move.
 */
function backendPanel(id) {
  const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const load = async () => {
    try {
      const view = await api(`jobs/${encodeURIComponent(id)}/backend`);
      replace(
        content,
        h(
          "dl",
          { class: "facts" },
          fact("Stored", view.exists ? "yes" : "no"),
          fact("Status there", view.status ?? "—"),
          fact("In its queue", view.in_queue ? `yes, position ${view.queue_position ?? "?"}` : "no"),
          fact("Scheduled", view.in_schedule ? `yes, for ${dateTime(view.scheduled_time)}` : "no"),
          fact("Lease", view.lease_owner ? `${view.lease_owner} until ${dateTime(view.lease_expires_at)}` : "none"),
          fact("Registries", view.registries.length ? view.registries.join(", ") : "none"),
          fact("Note", view.note || "—"),
        ),
        h("button", { type: "button", class: "secondary", onclick: load }, "Read again"),
      );
    } catch (error) {
      replace(content, h("p", { class: "error-box" }, describeError(error)));
    }
  };
  const details = h("details", { class: "panel backend" }, h("summary", {}, "What the backend holds"), content);
  details.addEventListener("toggle", () => {
    if (details.open) load();
  });
  return details;
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function runTime(job) {
  if (job.duration_ms !== null && job.duration_ms !== undefined) return duration(job.duration_ms);
  if (job.status === "running" && job.started_at) return `${duration(Math.max(0, Date.now() - new Date(job.started_at).getTime()))} so far`;
  return "—";
}

function metricsFacts(metrics) {
  if (!metrics) return null;
  const items = [];
  if (metrics.items_processed !== undefined && metrics.items_processed !== null) {
    const total = metrics.total_items ?? "?";
    items.push(fact("Items", `${metrics.items_processed} of ${total}`));
  }
  for (const [name, value] of Object.entries(metrics)) {
    if (name === "items_processed" || name === "total_items") continue;
    items.push(fact(name.replaceAll("_", " "), typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  return items;
}

function resultSection(job) {
  if (job.status === "failed" || (job.error && job.status !== "completed")) {
    const text = job.error || "The job failed without an error message.";
    const traceback = typeof job.traceback === "string" ? job.traceback : null;
    return section(
      "Error",
      h("pre", { class: "error-text", "data-testid": "job-error" }, text),
      traceback && h("details", {}, h("summary", {}, "Traceback"), h("pre", {}, traceback)),
    );
  }
  if (job.status === "completed") {
    // No input means a payload that is not JSON (a pickle): its result is not shown either, not null.
    if (!job.input) return section("Result", h("p", { class: "muted", "data-testid": "job-result" }, "Not shown: this job's result is not stored as JSON."));
    return section("Result", h("pre", { "data-testid": "job-result" }, json(job.result)));
  }
  if (job.status === "cancelled") return section("Result", h("p", { class: "muted" }, job.error || "Cancelled before it finished."));
  return null;
}
