// The audit log: operator actions on the store (here, over REST, or with the command
// line), who took them and when, newest first; older ones a page at a time. Admin keys only.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, shortTime } from "../format.js";
import { capped, errorBox, jobLink } from "./common.js";

const PAGE = 50;

export function auditView(main) {
  const errors = errorBox();
  const list = h("div", {});
  const more = h("p", {});
  replace(
    main,
    h("h1", {}, "Audit log"),
    h("p", { class: "muted" }, "Who cancelled, restarted, deleted, paused or shut down what, through the API, this dashboard or ", h("code", {}, "conveyor"), " commands. The latest 10,000 actions are kept."),
    errors.node,
    list,
    more,
  );
  const rows = h("tbody", {});
  let cursor = null;
  let active = true;

  const load = async () => {
    const answer = await api("audit", { query: { limit: PAGE, cursor } });
    if (!active) return;
    errors.clear();
    if (!cursor && !answer.data.length) {
      replace(list, h("p", { class: "empty muted" }, "No actions recorded yet."));
      return;
    }
    if (!cursor) replace(list, entriesTable(rows));
    rows.append(...answer.data.map(entryRow));
    cursor = answer.next_cursor;
    replace(more, cursor ? h("button", { type: "button", class: "secondary", onclick: () => load().catch(errors.show) }, "Older actions") : null);
  };
  load().catch(errors.show);
  return () => {
    active = false;
  };
}

function entriesTable(body) {
  const columns = [["When"], ["Who"], ["Action"], ["Target"], ["Detail", "hide-narrow"], ["Via", "hide-narrow"]];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, "Audit log"),
      h("thead", {}, h("tr", {}, columns.map(([text, hide]) => h("th", { scope: "col", class: hide ?? null }, text)))),
      body,
    ),
  );
}

function entryRow(entry) {
  return h(
    "tr",
    { "data-audit": entry.id },
    h("td", { title: dateTime(entry.at) }, shortTime(entry.at)),
    h("td", {}, capped(entry.actor), entry.role ? h("small", { class: "muted" }, ` ${entry.role}`) : null),
    h("td", {}, h("code", {}, entry.action)),
    h("td", {}, target(entry)),
    h("td", { class: "hide-narrow" }, entry.detail),
    h("td", { class: "hide-narrow" }, entry.via),
  );
}

/** A job's or batch's target links to its page; a queue to its jobs. */
function target(entry) {
  const id = entry.target;
  if (!id) return h("span", { class: "muted" }, "the store");
  const kind = entry.action.split(".")[0];
  if (kind === "job") return jobLink(id);
  if (kind === "batch") return h("a", { href: `#/batches/${encodeURIComponent(id)}`, class: "mono" }, id);
  if (kind === "queue") return h("a", { href: `#/jobs?queue=${encodeURIComponent(id)}`, class: "cap" }, id);
  return capped(id);
}
