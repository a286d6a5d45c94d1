// Failed jobs: pick some (or all) and restart or delete them, one API call per job,
// with a report of what worked.

import { api, describeError, listJobs, retryAfterMs } from "../api.js";
import { confirmAction } from "../confirm.js";
import { field, h, replace } from "../dom.js";
import { number } from "../format.js";
import { poll } from "../live.js";
import { navigate } from "../router.js";
import { changes, errorBox, jobsTable } from "./common.js";

const PAGE_SIZE = 50;
const RATE_LIMIT_ATTEMPTS = 10;
const REFRESH_MS = 3000;

const plural = (count) => `${count} failed job${count === 1 ? "" : "s"}`;

/** What the bulk buttons do to each job, and how the dialog and the report say it. */
const ACTIONS = {
  restart: {
    name: "Restart",
    doing: "Restarting",
    done: "Restarted",
    consequence: (count) => `${plural(count)} will go back to their queues and run again from the start.`,
    call: (id) => api(`jobs/restart/${encodeURIComponent(id)}`, { method: "POST" }),
    danger: false,
  },
  delete: {
    name: "Delete",
    doing: "Deleting",
    done: "Deleted",
    consequence: (count) => `${plural(count)} and their errors will be removed for good.`,
    call: (id) => api(`jobs/${encodeURIComponent(id)}`, { method: "DELETE" }),
    danger: true,
  },
};

export function failedView(main, _params, query) {
  const queueName = query.get("queue") || "";
  const selected = new Set();
  const errors = errorBox();
  const report = h("div", { class: "outcome", role: "status", "aria-live": "polite", tabindex: "-1" });
  const table = h("div", {});
  const summary = h("p", { class: "muted" });
  let jobs = [];
  let total = null;
  let working = false;

  const selectAll = h("input", { type: "checkbox", id: "select-all" });
  const restartSelected = h("button", { type: "button", disabled: true }, "Restart selected");
  const restartAll = h("button", { type: "button", class: "secondary", disabled: true }, "Restart all failed");
  const deleteSelected = h("button", { type: "button", class: "danger", disabled: true }, "Delete selected");
  const queueInput = h("input", { name: "queue", value: queueName, placeholder: "any", autocomplete: "off" });

  const updateButtons = () => {
    const visible = jobs.filter((job) => selected.has(job.id)).length;
    restartSelected.textContent = `Restart selected (${selected.size})`;
    restartSelected.disabled = working || selected.size === 0;
    restartAll.disabled = working || jobs.length === 0;
    deleteSelected.textContent = `Delete selected (${selected.size})`;
    deleteSelected.disabled = working || selected.size === 0;
    selectAll.checked = jobs.length > 0 && visible === jobs.length;
    selectAll.indeterminate = visible > 0 && visible < jobs.length;
  };

  const drawTable = () => {
    replace(table, jobsTable(jobs, { selected, onSelect: updateButtons, caption: "Failed jobs", emptyText: "No failed jobs.", errorColumn: true }));
    summary.textContent = total === null ? `${number(jobs.length)} shown` : `${number(jobs.length)} shown of ${number(total)} failed`;
    updateButtons();
  };
  const draw = changes((page) => {
    jobs = page.data;
    total = page.total;
    const ids = new Set(jobs.map((job) => job.id));
    for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
    drawTable();
  });

  selectAll.addEventListener("change", () => {
    for (const job of jobs) {
      if (selectAll.checked) selected.add(job.id);
      else selected.delete(job.id);
    }
    drawTable();
  });

  const apply = async (action, ids, what) => {
    const ok = await confirmAction({
      title: `${action.name} ${what}?`,
      text: action.consequence(ids.length),
      confirmLabel: `${action.name} ${ids.length}`,
      danger: action.danger,
    });
    if (!ok) return;
    working = true;
    updateButtons();
    const failures = [];
    let done = 0;
    for (const id of ids) {
      // Under a rate limit, wait as the server asks and try the same job again (a few
      // times), rather than report most of a large selection as failed.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await action.call(id);
          done += 1;
          selected.delete(id);
          break;
        } catch (error) {
          const wait = retryAfterMs(error);
          if (wait && attempt < RATE_LIMIT_ATTEMPTS) {
            report.textContent = `${action.doing}… ${done + failures.length} of ${ids.length} (rate limited: waiting ${Math.ceil(wait / 1000)} s)`;
            await new Promise((resolve) => setTimeout(resolve, wait));
            continue;
          }
          failures.push(`${id}: ${describeError(error)}`);
          break;
        }
      }
      report.textContent = `${action.doing}… ${done + failures.length} of ${ids.length}`;
    }
    working = false;
    replace(
      report,
      h("p", {}, `${action.done} ${done} of ${ids.length} job${ids.length === 1 ? "" : "s"}.`),
      failures.length ? h("ul", { class: "error-list" }, failures.map((text) => h("li", {}, text))) : null,
    );
    report.dataset.kind = failures.length ? "error" : "ok";
    report.focus();
    await load().catch(errors.show);
  };

  restartSelected.addEventListener("click", () => apply(ACTIONS.restart, [...selected], "the selected jobs"));
  deleteSelected.addEventListener("click", () => apply(ACTIONS.delete, [...selected], "the selected jobs"));
  restartAll.addEventListener("click", async () => {
    try {
      apply(ACTIONS.restart, await allFailedIds(queueName), "all failed jobs");
    } catch (error) {
      errors.show(error);
    }
  });

  replace(
    main,
    h("h1", {}, "Failed jobs"),
    h(
      "form",
      {
        class: "filters",
        role: "search",
        "aria-label": "Filter failed jobs",
        onsubmit: (event) => {
          event.preventDefault();
          const value = queueInput.value.trim();
          navigate(`#/failed${value ? `?queue=${encodeURIComponent(value)}` : ""}`);
        },
      },
      field("Queue", queueInput),
      h("div", { class: "field buttons" }, h("button", { type: "submit" }, "Filter")),
    ),
    errors.node,
    h(
      "div",
      { class: "toolbar bulk" },
      h("label", { class: "inline" }, selectAll, " Select all shown"),
      restartSelected,
      restartAll,
      deleteSelected,
    ),
    report,
    summary,
    table,
  );

  const load = async () => {
    const page = await listJobs({ status: "failed", queue: queueName, limit: PAGE_SIZE });
    errors.clear();
    draw(page);
  };
  return poll(load, REFRESH_MS, errors.show);
}

/** Every failed job's id (following the cursor), for "restart all". */
async function allFailedIds(queue) {
  const ids = [];
  let cursor = null;
  do {
    const page = await listJobs({ status: "failed", queue, limit: 1000, cursor });
    ids.push(...page.data.map((job) => job.id));
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}
