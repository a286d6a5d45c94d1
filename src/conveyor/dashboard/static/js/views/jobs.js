// Jobs: a list filtered by status, queue, job type, user and batch, paged by cursor, with a
// search by id. The filters live in the URL hash, so a filtered list can be linked.

import { listJobs } from "../api.js";
import { field, h, replace } from "../dom.js";
import { number, STATUSES } from "../format.js";
import { poll } from "../live.js";
import { navigate } from "../router.js";
import { changes, errorBox, jobsTable } from "./common.js";

const PAGE_SIZE = 25;
const REFRESH_MS = 2000;

export function jobsView(main, _params, query) {
  const filters = {
    status: query.get("status") || "",
    queue: query.get("queue") || "",
    job_type: query.get("job_type") || "",
    user: query.get("user") || "",
    batch_id: query.get("batch_id") || "",
  };
  const cursors = [null]; // cursors[i] opens page i; the last one is the current page
  const errors = errorBox();
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const table = h("div", {});
  const previous = h("button", { type: "button", class: "secondary", disabled: true }, "← Newer");
  const next = h("button", { type: "button", class: "secondary", disabled: true }, "Older →");
  const pageLabel = h("span", { class: "muted" });
  let nextCursor = null;

  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((name) => h("option", { value: name, selected: filters.status === name }, name)),
  );
  const queue = h("input", { name: "queue", value: filters.queue, placeholder: "any", autocomplete: "off" });
  const jobType = h("input", { name: "job_type", value: filters.job_type, placeholder: "any", autocomplete: "off" });
  const user = h("input", { name: "user", value: filters.user, placeholder: "any", autocomplete: "off" });
  const batch = h("input", { name: "batch_id", value: filters.batch_id, placeholder: "any", autocomplete: "off", class: "mono" });
  const filterForm = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter jobs",
      onsubmit: (event) => {
        event.preventDefault();
        const params = new URLSearchParams();
        for (const [name, control] of [["status", status], ["queue", queue], ["job_type", jobType], ["user", user], ["batch_id", batch]]) {
          if (control.value.trim()) params.set(name, control.value.trim());
        }
        navigate(`#/jobs${params.toString() ? `?${params}` : ""}`);
      },
    },
    field("Status", status),
    field("Queue", queue),
    field("Job type", jobType),
    field("User (admins)", user),
    field("Batch", batch),
    h("div", { class: "field buttons" }, h("button", { type: "submit" }, "Filter"), h("a", { href: "#/jobs", class: "button secondary" }, "Clear")),
  );
  status.addEventListener("change", () => filterForm.requestSubmit());

  const idInput = h("input", { name: "id", required: true, autocomplete: "off", spellcheck: "false", class: "mono" });
  const searchForm = h(
    "form",
    {
      class: "id-search",
      role: "search",
      "aria-label": "Find a job by id",
      onsubmit: (event) => {
        event.preventDefault();
        const id = idInput.value.trim();
        if (id) navigate(`#/jobs/${encodeURIComponent(id)}`);
      },
    },
    field("Job id", idInput),
    h("button", { type: "submit" }, "Open"),
  );

  replace(
    main,
    h("h1", {}, "Jobs"),
    h("div", { class: "toolbar" }, filterForm, searchForm),
    errors.node,
    summary,
    table,
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, pageLabel, next),
  );

  const draw = changes((page) => {
    nextCursor = page.next_cursor;
    const total = page.total === null || page.total === undefined ? "" : ` of ${number(page.total)}`;
    // The API's pending and running counts leave the status filter out: beside a list of
    // failed jobs, "1 running" would read as one of them.
    const counts =
      filters.status || page.pending_count === null || page.pending_count === undefined
        ? ""
        : ` · ${number(page.pending_count)} pending · ${number(page.running_count)} running`;
    summary.textContent = `${number(page.data.length)} shown${total}${counts}`;
    replace(table, jobsTable(page.data, { caption: "Jobs", emptyText: "No jobs match these filters." }));
    previous.disabled = cursors.length <= 1;
    next.disabled = !nextCursor;
    pageLabel.textContent = `Page ${cursors.length}`;
  });

  const load = async () => {
    const page = await listJobs({ ...filters, limit: PAGE_SIZE, cursor: cursors[cursors.length - 1] });
    errors.clear();
    draw(page);
  };

  let stop = poll(load, REFRESH_MS, errors.show);
  const restart = () => {
    stop();
    stop = poll(load, REFRESH_MS, errors.show);
  };
  next.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors.push(nextCursor);
    restart();
  });
  previous.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    restart();
  });
  return () => stop();
}
