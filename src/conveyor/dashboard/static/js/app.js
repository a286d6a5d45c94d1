// The dashboard's entry point: routes, the login/logout flow, the live indicator.

import { ApiError, api, auth } from "./api.js";
import { h, replace } from "./dom.js";
import { onLiveState } from "./live.js";
import { match, route } from "./router.js";
import { auditView } from "./views/audit.js";
import { batchesView, batchView } from "./views/batches.js";
import { cronView } from "./views/cron.js";
import { failedView } from "./views/failed.js";
import { jobView } from "./views/job.js";
import { jobsView } from "./views/jobs.js";
import { loginView } from "./views/login.js";
import { overviewView } from "./views/overview.js";

route("/", "overview", overviewView, "Overview");
route("/jobs", "jobs", jobsView, "Jobs");
route("/jobs/:id", "jobs", jobView, "Job");
route("/failed", "failed", failedView, "Failed jobs");
route("/batches", "batches", batchesView, "Batches");
route("/batches/:id", "batches", batchView, "Batch");
route("/cron", "cron", cronView, "Periodic jobs");
route("/audit", "audit", auditView, "Audit log");

const main = document.getElementById("main");
const logout = document.getElementById("logout");
const nav = document.querySelector(".topbar nav");
let cleanup = () => {};
let onLogin = false;

function show() {
  cleanup();
  cleanup = () => {};
  onLogin = false;
  nav.hidden = false;
  logout.hidden = !auth.key;
  const found = match();
  for (const link of document.querySelectorAll("#nav a")) {
    if (found && link.dataset.route === found.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${found ? found.title : "Not found"} · conveyor`;
  if (!found) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page. ", h("a", { href: "#/" }, "Go to the overview.")));
    return;
  }
  cleanup = found.view(main, found.params, found.query) || (() => {});
}

function showLogin() {
  if (onLogin) return;
  cleanup();
  onLogin = true;
  nav.hidden = true;
  logout.hidden = true;
  document.title = "Log in · conveyor";
  cleanup = loginView(main, () => {
    onLogin = false;
    show();
    checkBatches();
    checkAudit();
  });
}

/**
 * Batches have their own REST issue: hide the nav entry when the server has no such
 * endpoint (404). Any other error (the store down as the page loads) keeps it: the
 * batches page says what is wrong, and the entry would otherwise stay away until a reload.
 */
async function checkBatches() {
  try {
    await api("batches", { query: { limit: 1 } });
    document.getElementById("nav-batches").hidden = false;
  } catch (error) {
    document.getElementById("nav-batches").hidden = error instanceof ApiError && error.status === 404;
  }
}

/** The audit log is for admin keys: its entry shows once the server lets this key read it. */
async function checkAudit() {
  try {
    await api("audit", { query: { limit: 1 } });
    document.getElementById("nav-audit").hidden = false;
  } catch {
    document.getElementById("nav-audit").hidden = true;
  }
}

window.addEventListener("conveyor:unauthorized", showLogin);
window.addEventListener("hashchange", () => {
  if (!onLogin) {
    show();
    main.focus({ preventScroll: true });
  }
});
logout.addEventListener("click", () => {
  auth.key = null;
  showLogin();
});

// Hidden while nothing on the page updates (a page that is not found, the login form).
const indicator = document.getElementById("live-indicator");
onLiveState((state, problem) => {
  indicator.hidden = state === "none";
  indicator.dataset.state = state;
  indicator.textContent = state === "down" ? "offline" : "live";
  indicator.title = state === "down" ? `Not updating: ${problem}` : "Updating live";
});

show();
checkBatches();
checkAudit();
