// Periodic jobs: what `conveyor cron` schedulers run, when each ran last and runs next,
// and whether a scheduler still runs it; polled, as the overview is.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, relativeTime } from "../format.js";
import { poll } from "../live.js";
import { breakable, capped, changes, errorBox } from "./common.js";

const EVERY_MS = 5000;

export function cronView(main) {
  const errors = errorBox();
  const list = h("div", {});
  replace(
    main,
    h("h1", {}, "Periodic jobs"),
    h("p", { class: "muted" }, "The jobs ", h("code", {}, "conveyor cron"), " schedulers enqueue on a schedule, as they last published them (every minute)."),
    errors.node,
    list,
  );

  // Drawn from the texts shown, relative times included, so a poll redraws only what changed.
  const draw = changes((rows) => {
    if (!rows.length) {
      replace(list, h("p", { class: "empty muted" }, "No periodic jobs are scheduled. Run ", h("code", {}, "conveyor cron CONFIG"), " to schedule some."));
      return;
    }
    replace(list, entriesTable(rows));
  });

  const refresh = async () => {
    const answer = await api("cron");
    errors.clear();
    const now = Date.now();
    draw(answer.data.map((entry) => shown(entry, now)));
  };
  const stop = poll(refresh, EVERY_MS, errors.show);
  return () => stop();
}

/** What a row shows of an entry at `now` (milliseconds). */
function shown(entry, now) {
  return {
    name: entry.name,
    schedule: entry.schedule_kind === "interval" ? `every ${entry.schedule}${/^\d+$/.test(entry.schedule) ? " s" : ""}` : entry.schedule,
    timezone: entry.schedule_kind === "cron" ? entry.timezone : null, // interval ticks are UTC seconds
    queue: entry.queue,
    jobType: entry.job_type,
    next: entry.next_tick ? relativeTime(entry.next_tick, now) : "—",
    nextAt: dateTime(entry.next_tick),
    last: entry.last_tick ? relativeTime(entry.last_tick, now) : "not yet",
    lastAt: entry.last_tick ? dateTime(entry.last_tick) : "",
    scheduler: `${entry.host} · pid ${entry.pid}`,
    seen: relativeTime(entry.last_seen, now),
    seenAt: dateTime(entry.last_seen),
    stale: entry.stale,
  };
}

function entriesTable(rows) {
  const columns = [["Name"], ["Schedule"], ["Next run"], ["Last run", "hide-narrow"], ["Queue", "hide-narrow"], ["Job type", "hide-narrow"], ["Scheduler", "hide-narrow"], ["State"]];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, "Periodic jobs"),
      h("thead", {}, h("tr", {}, columns.map(([text, hide]) => h("th", { scope: "col", class: hide ?? null }, text)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            { "data-cron": row.name },
            h("th", { scope: "row" }, h("span", { class: "mono cap" }, row.name)),
            h("td", {}, h("code", {}, row.schedule), row.timezone ? h("small", { class: "muted" }, ` ${row.timezone}`) : null),
            h("td", { title: row.nextAt, "data-testid": "cron-next" }, row.next),
            h("td", { class: "hide-narrow", title: row.lastAt, "data-testid": "cron-last" }, row.last),
            h("td", { class: "hide-narrow" }, capped(row.queue)),
            h("td", { class: "hide-narrow mono wrap" }, capped(breakable(row.jobType))),
            h("td", { class: "hide-narrow", title: `Last published ${row.seenAt}` }, row.scheduler, h("br"), h("small", { class: "muted" }, `seen ${row.seen}`)),
            h("td", {}, h("span", { class: `badge ${row.stale ? "warn" : "ok"}`, title: row.stale ? "No scheduler has published it for five minutes" : null }, row.stale ? "stale" : "scheduled")),
          ),
        ),
      ),
    ),
  );
}
