// Pieces several views share: the error banner, the jobs table, section headings.

import { describeError } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, duration, progressBar, shortId, shortTime, statusBadge } from "../format.js";

/**
 * A region that shows API errors readably. Each source of errors (a poller, an action)
 * reports through its own `part(name)`, so one source recovering does not hide
 * another's error; `show`/`clear` are the default part.
 */
export function errorBox() {
  const node = h("div", { class: "error-box", role: "alert", hidden: true });
  const messages = new Map();
  const render = () => {
    if (!messages.size) {
      node.hidden = true;
      node.replaceChildren();
      return;
    }
    replace(node, [...new Set(messages.values())].map((text) => h("p", {}, h("strong", {}, "Error: "), text)));
    node.hidden = false;
  };
  const part = (name) => ({
    show(error) {
      const text = describeError(error);
      if (messages.get(name) === text) return;
      messages.set(name, text);
      render();
    },
    clear() {
      if (messages.delete(name)) render();
    },
  });
  return { node, part, ...part("default") };
}

/** Call `update(value)` only when `value` differs from the last one (no needless redraws). */
export function changes(update) {
  let last;
  return (value) => {
    const signature = JSON.stringify(value);
    if (signature === last) return;
    last = signature;
    update(value);
  };
}

export function jobLink(id) {
  return h("a", { href: `#/jobs/${encodeURIComponent(id)}`, title: id, class: "mono job-id" }, shortId(id));
}

/**
 * A table of jobs. With `selected` (a Set of ids), each row starts with a checkbox
 * that adds or removes its id, and `onSelect()` is called after each change.
 * With `errorColumn`, the error's last line takes the place of the progress bar.
 */
export function jobsTable(jobs, { selected = null, onSelect = () => {}, caption = "Jobs", emptyText = "No jobs.", errorColumn = false } = {}) {
  if (!jobs.length) return h("p", { class: "empty muted" }, emptyText);
  const head = h(
    "tr",
    {},
    selected && h("th", { scope: "col", class: "check" }, h("span", { class: "visually-hidden" }, "Select")),
    h("th", { scope: "col" }, "Job"),
    h("th", { scope: "col", class: errorColumn ? "hide-narrow" : null }, "Status"),
    h("th", { scope: "col" }, "Type"),
    h("th", { scope: "col", class: "hide-narrow" }, "Queue"),
    h("th", { scope: "col", class: errorColumn ? null : "hide-narrow" }, errorColumn ? "Error" : "Progress"),
    h("th", { scope: "col", class: "hide-narrow" }, "User"),
    h("th", { scope: "col", class: "hide-narrow" }, "Created"),
    h("th", { scope: "col", class: "hide-narrow" }, "Duration"),
  );
  const rows = jobs.map((job) =>
    h(
      "tr",
      { "data-job-id": job.id, "data-status": job.status },
      selected &&
        h(
          "td",
          { class: "check" },
          h("input", {
            type: "checkbox",
            checked: selected.has(job.id),
            "aria-label": `Select job ${job.id}`,
            onchange: (event) => {
              if (event.target.checked) selected.add(job.id);
              else selected.delete(job.id);
              onSelect();
            },
          }),
        ),
      h("td", {}, jobLink(job.id)),
      h("td", { class: errorColumn ? "hide-narrow" : null }, statusBadge(job.status)),
      h("td", { class: "mono wrap" }, capped(breakable(job.job_type))),
      h("td", { class: "hide-narrow" }, capped(job.queue)),
      errorColumn
        ? h("td", { class: "error-cell", title: job.error ?? "" }, job.error ?? "—")
        : h("td", { class: "hide-narrow" }, progressBar(job.progress, `Progress of job ${job.id}`)),
      h("td", { class: "hide-narrow" }, capped(job.user_id ?? "—")),
      h("td", { class: "hide-narrow", title: dateTime(job.created_at) }, shortTime(job.created_at)),
      h("td", { class: "hide-narrow" }, duration(job.duration_ms)),
    ),
  );
  return h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, caption), h("thead", {}, head), h("tbody", {}, rows)));
}

/** A name from users in a table cell, wrapped past a width (see .cap), so it cannot crowd out the other columns. */
export function capped(text) {
  return h("span", { class: "cap" }, text);
}

/** A dotted name ("app.jobs.send_mail") that may wrap after each dot on a narrow screen. */
export function breakable(name) {
  return String(name)
    .split(".")
    .flatMap((part, index) => (index ? [".", h("wbr"), part] : [part]));
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}
