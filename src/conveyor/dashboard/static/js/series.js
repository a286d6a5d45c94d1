// The throughput series the overview draws: samples of "jobs ended in the last minute",
// taken by the page as it polls, kept for an hour in sessionStorage so that moving
// between views or reloading does not start the chart again from nothing.

const STORE = "conveyor.throughput";
const SPAN_MS = 60 * 60 * 1000;
const EVERY_MS = 5000;

function load() {
  try {
    const points = JSON.parse(sessionStorage.getItem(STORE) || "[]");
    return Array.isArray(points) ? points.filter((p) => typeof p.t === "number" && typeof p.v === "number") : [];
  } catch {
    return [];
  }
}

let points = load();

export const throughput = {
  spanMs: SPAN_MS,
  points() {
    return points;
  },
  /** Record a sample; at most one every few seconds is kept (the latest wins). */
  add(value, now = Date.now()) {
    const last = points[points.length - 1];
    if (last && now - last.t < EVERY_MS) {
      last.v = value;
    } else {
      points.push({ t: now, v: value });
    }
    points = points.filter((p) => p.t >= now - SPAN_MS);
    try {
      sessionStorage.setItem(STORE, JSON.stringify(points));
    } catch {
      // storage full or disabled: the chart still works for this page's life
    }
  },
};
