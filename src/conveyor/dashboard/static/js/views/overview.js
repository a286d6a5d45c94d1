// Overview: counts per status and queue, throughput, workers, limits and recent jobs,
// refreshed by polling the cheap stats endpoints.

import { api, describeError, listJobs } from "../api.js";
import { areaChart } from "../chart.js";
import { confirmAction } from "../confirm.js";
import { h, replace } from "../dom.js";
import { dateTime, duration, number, shortTime, STATUSES } from "../format.js";
import { poll } from "../live.js";
import { capped, changes, errorBox, jobLink, jobsTable, section } from "./common.js";
import { throughput } from "../series.js";

const STATS_EVERY_MS = 1500;
const QUEUES_EVERY_MS = 5000;

const COUNT_FIELDS = {
  pending: "pending_jobs",
  scheduled: "scheduled_jobs",
  running: "running_jobs",
  completed: "completed_jobs",
  failed: "failed_jobs",
  cancelled: "cancelled_jobs",
};

export function overviewView(main) {
  const errors = errorBox();
  const counts = h("ul", { class: "cards", "aria-label": "Jobs per status" });
  const health = h("dl", { class: "facts" });
  const chart = h("div", { class: "chart-box" });
  const rates = h("dl", { class: "rates" });
  const queues = h("div", {});
  const queueOutcome = h("p", { class: "outcome", role: "status", "aria-live": "polite", tabindex: "-1" });
  const workers = h("div", {});
  const recent = h("div", {});

  replace(
    main,
    h("h1", {}, "Overview"),
    errors.node,
    counts,
    h(
      "div",
      { class: "grid-2" },
      section("Throughput", chart, rates),
      section("System and limits", health),
    ),
    section("Workers", workers),
    section("Queues", queueOutcome, queues),
    section("Recent jobs", recent, h("p", {}, h("a", { href: "#/jobs" }, "All jobs →"))),
  );

  const drawCounts = changes((stats) => {
    replace(
      counts,
      STATUSES.map((status) =>
        h(
          "li",
          {},
          h(
            "a",
            { class: `card status-${status}`, href: `#/jobs?status=${status}`, "data-testid": `count-${status}` },
            h("span", { class: "card-label" }, status),
            h("span", { class: "card-value" }, number(stats[COUNT_FIELDS[status]])),
          ),
        ),
      ),
    );
  });

  const drawHealth = changes((stats) => {
    replace(
      health,
      fact("Backend", stats.queue_type),
      fact("Workers", h("span", {}, `${number(stats.active_workers)} healthy · `, healthBadge(stats.worker_health_status))),
      fact("Global limit", limitText(stats.global_max_concurrent_jobs, "running jobs at once")),
      fact("Per-user limit", limitText(stats.per_user_max_concurrent_jobs, "running jobs per user")),
      fact("Start rates", startRatesText(stats.queue_rates, stats.job_type_rates, stats.user_rate)),
      fact("Total jobs", number(stats.total_jobs)),
      // The machine the API server runs on, every process of it: not the server's own use.
      fact("Host CPU", `${number(Math.round(stats.cpu_usage_percent))}% busy`),
      fact("Host memory", `${number(Math.round(stats.memory_usage_mb))} MB used`),
      fact("Last cleanup", stats.last_cleanup ? dateTime(stats.last_cleanup) : "not yet reported"),
    );
  });

  const drawRates = changes((stats) => {
    replace(
      rates,
      rate("Last minute", number(stats.throughput.last_minute), "jobs"),
      rate("Last hour", number(stats.throughput.last_hour), "jobs"),
      rate("Last day", number(stats.throughput.last_day), "jobs"),
      rate("Average run time", duration(stats.avg_processing_time_ms), "completed or failed, last hour"),
    );
  });

  const drawChart = () => {
    const now = Date.now();
    const points = throughput.points();
    // Zoom to the samples there are (at least 5 minutes, at most the hour kept).
    const spanMs = Math.min(throughput.spanMs, Math.max(5 * 60 * 1000, now - (points.length ? points[0].t : now)));
    replace(
      chart,
      // (a user's key sees its own jobs in the counts, but the store keeps no throughput per user)
      h("p", { class: "muted small" }, "Jobs of every user ended per minute (completed, failed or cancelled), sampled while this page is open (up to an hour)"),
      areaChart(points, { spanMs, now, label: "Jobs ended per minute", unit: " jobs/min", width: Math.max(280, chart.clientWidth || 600) }),
    );
  };

  const drawWorkers = changes((list) => {
    if (!list.length) {
      replace(workers, h("p", { class: "empty muted" }, "No workers are running. Start one with ", h("code", {}, "conveyor worker"), "."));
      return;
    }
    replace(
      workers,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Workers"),
          h(
            "thead",
            {},
            h("tr", {}, [["Worker"], ["Health"], ["State", "hide-narrow"], ["Queues", "hide-narrow"], ["Current job"], ["Done", "hide-narrow"], ["Last heartbeat", "hide-narrow"]].map(
                ([text, hide]) => h("th", { scope: "col", class: hide ?? null }, text),
              )),
          ),
          h(
            "tbody",
            {},
            list.map((worker) =>
              h(
                "tr",
                { "data-worker": worker.name },
                h("td", {}, h("span", { class: "mono cap" }, worker.name), h("br"), h("small", { class: "muted" }, `${worker.host} · pid ${worker.pid}${worker.pool === "processes" ? " · jobs in child processes" : ""}`)),
                h("td", {}, h("span", { class: `badge ${worker.healthy ? "ok" : "bad"}` }, worker.healthy ? "healthy" : "unresponsive")),
                h("td", { class: "hide-narrow" }, worker.shutdown_requested ? `${worker.state} · shutting down` : worker.state),
                h("td", { class: "hide-narrow" }, capped(worker.queues.join(", "))),
                h("td", {}, currentJobs(worker)),
                h("td", { class: "hide-narrow", "data-testid": "worker-done" }, jobsDone(worker)),
                h("td", { class: "hide-narrow", title: dateTime(worker.last_heartbeat) }, shortTime(worker.last_heartbeat)),
              ),
            ),
          ),
        ),
      ),
    );
  });

  const drawRecent = changes((page) => {
    replace(recent, jobsTable(page.data, { caption: "Recent jobs", emptyText: "No jobs yet." }));
  });

  // A queue whose jobs wait while no healthy worker listens to it is said to be so: its
  // count would otherwise just stay put beside an idle worker.
  const drawQueues = changes(({ rows, served }) => {
    if (!rows.length) {
      replace(queues, h("p", { class: "empty muted" }, "No queue holds jobs yet."));
      return;
    }
    replace(
      queues,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Jobs per queue"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Queue"),
              QUEUE_COLUMNS.map(([status, hide]) => h("th", { scope: "col", class: hide ? "hide-narrow" : null }, capitalized(status))),
              h("th", { scope: "col", class: "hide-narrow" }, "Total"),
              h("th", { scope: "col", class: "hide-narrow" }, h("span", { class: "visually-hidden" }, "Pause")), // (a phone keeps the counts)
            ),
          ),
          h(
            "tbody",
            {},
            rows.map((row) =>
              h(
                "tr",
                { "data-queue": row.queue },
                h(
                  "th",
                  { scope: "row" },
                  h("a", { href: `#/jobs?queue=${encodeURIComponent(row.queue)}`, class: "cap" }, row.queue),
                  row.paused ? [" ", h("span", { class: "badge warn", "data-testid": "paused", title: `Paused since ${dateTime(row.paused_at)}` }, "paused")] : null,
                  !row.paused && row.pending && served && !served.includes(row.queue) ? [" ", h("span", { class: "badge warn", "data-testid": "unserved" }, "no worker")] : null,
                ),
                QUEUE_COLUMNS.map(([status, hide]) => h("td", { class: hide ? "hide-narrow" : null, "data-status": status }, queueCount(row, status))),
                h("td", { class: "hide-narrow", "data-status": "total" }, number(row.total)),
                h("td", { class: "actions hide-narrow" }, h("button", { type: "button", class: "secondary", onclick: () => pauseOrResume(row) }, row.paused ? "Resume" : "Pause")),
              ),
            ),
          ),
        ),
      ),
    );
  });

  // Pausing needs an admin key: with a user's, the server's refusal is shown here.
  const pauseOrResume = async (row) => {
    const verb = row.paused ? "resume" : "pause";
    if (verb === "pause") {
      const ok = await confirmAction({
        title: `Pause queue ${row.queue}?`,
        text: "No worker starts its jobs until it is resumed, on every machine. Jobs still enqueue into it; the running ones go on.",
        confirmLabel: "Pause queue",
      });
      if (!ok) return;
    }
    try {
      await api(`queues/${encodeURIComponent(row.queue)}/${verb}`, { method: "POST" });
      queueOutcome.textContent = verb === "pause" ? `Queue ${row.queue} is paused.` : `Queue ${row.queue} is resumed.`;
      queueOutcome.dataset.kind = "ok";
    } catch (error) {
      queueOutcome.textContent = `Could not ${verb} queue ${row.queue}: ${describeError(error)}`;
      queueOutcome.dataset.kind = "error";
    }
    await refreshQueues().catch(queueErrors.show);
    queueOutcome.focus();
  };

  const statsErrors = errors.part("stats");
  const listErrors = errors.part("lists");
  const queueErrors = errors.part("queues");
  const refreshStats = async () => {
    const [queueStats, stats] = await Promise.all([api("jobs/queue/stats"), api("jobs/stats")]);
    statsErrors.clear();
    drawCounts(queueStats);
    drawHealth(queueStats);
    drawRates(stats);
    throughput.add(stats.throughput.last_minute);
    drawChart();
  };
  let queueRows = null;
  let served = null; // the queues some healthy worker listens to; null until the workers are read
  const refreshLists = async () => {
    const [workerList, page] = await Promise.all([api("workers"), listJobs({ limit: 8 })]);
    listErrors.clear();
    const list = workerList.data ?? workerList;
    drawWorkers(list);
    drawRecent(page);
    served = [...new Set(list.filter((worker) => worker.healthy).flatMap((worker) => worker.queues))].sort(); // (compared as JSON)
    if (queueRows) drawQueues({ rows: queueRows, served });
  };
  // Every queue of the store (the user's, with keys) in one call: the queues seen among
  // workers and recent jobs only would leave out a quiet queue full of failed jobs.
  const refreshQueues = async () => {
    const answer = await api("queues");
    queueErrors.clear();
    queueRows = answer.data;
    drawQueues({ rows: queueRows, served });
  };

  const stops = [
    poll(refreshStats, STATS_EVERY_MS, statsErrors.show),
    poll(refreshLists, STATS_EVERY_MS, listErrors.show),
    poll(refreshQueues, QUEUES_EVERY_MS, queueErrors.show),
  ];
  return () => stops.forEach((stop) => stop());
}

/**
 * The queues table's counts, in the order a job goes through them (as the cards above
 * and `conveyor info`), the total last; on a phone the ones marked go, so that the
 * others keep a readable width.
 */
const QUEUE_COLUMNS = [
  ["pending", false],
  ["scheduled", true],
  ["running", false],
  ["completed", false],
  ["failed", false],
  ["cancelled", true],
];

/** A queue's count of one status; a link to those jobs when there are some (failed ones to the Failed page). */
function queueCount(row, status) {
  const count = row[status] ?? 0;
  if (!count) return number(count);
  const queue = encodeURIComponent(row.queue);
  const href = status === "failed" ? `#/failed?queue=${queue}` : `#/jobs?queue=${queue}&status=${status}`;
  return h("a", { href }, number(count));
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function rate(term, value, unit) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, h("strong", {}, value), " ", h("span", { class: "muted" }, unit)));
}

function limitText(limit, what) {
  return limit === null || limit === undefined ? "none" : `${number(limit)} ${what}`;
}

// The workers' rate limits: at most count jobs of a queue, a job type or each user
// started per period.
function startRatesText(byQueue, byType, perUser) {
  const per = (rate) => `${number(rate.count)} per ${number(rate.period_seconds)} s`;
  const each = (rates, kind) => Object.entries(rates || {}).map(([name, rate]) => `${kind} ${name}: ${per(rate)}`);
  const all = [...each(byQueue, "queue"), ...each(byType, "type"), ...(perUser ? [`each user: ${per(perUser)}`] : [])];
  return all.length ? all.join(" · ") : "none";
}

function healthBadge(status) {
  const kind = status === "healthy" ? "ok" : status === "degraded" ? "warn" : "bad";
  return h("span", { class: `badge ${kind}` }, status.replace("_", " "));
}

/**
 * "12 · 2 failed · 1 cancelled": the jobs a worker ended, and of those the ones that
 * failed by themselves and the ones a stop or a cancel ended. REST's jobs_failed counts
 * both, as RQ's failed_job_count does; jobs_cancelled (0 from an earlier server) the latter.
 */
function jobsDone(worker) {
  const cancelled = worker.jobs_cancelled ?? 0;
  const failed = worker.jobs_failed - cancelled;
  const part = (count, what) => (count ? h("small", { class: "muted" }, ` · ${number(count)} ${what}`) : null);
  return [number(worker.jobs_done), part(failed, "failed"), part(cancelled, "cancelled")];
}

function currentJobs(worker) {
  const ids = worker.current_job_ids && worker.current_job_ids.length ? worker.current_job_ids : worker.current_job_id ? [worker.current_job_id] : [];
  if (!ids.length) return h("span", { class: "muted" }, "idle");
  return ids.flatMap((id, index) => (index ? [", ", jobLink(id)] : [jobLink(id)]));
}

