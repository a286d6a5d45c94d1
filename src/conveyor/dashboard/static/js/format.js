// Turning API values into short, readable text.

import { h } from "./dom.js";

export const STATUSES = ["pending", "scheduled", "running", "completed", "failed", "cancelled"];
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

/** "2026-11-23 08:30:12" in the browser's time zone, or "—". */
export function dateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Milliseconds as "850 ms", "12.3 s", "4 min 2 s", "2 h 5 min". */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function percent(fraction) {
  if (fraction === null || fraction === undefined) return "—";
  return `${Math.round(fraction * 100)}%`;
}

export function number(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en-US");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A short form of a long id for tables; the full id stays in the title and the link.
 * A UUID shows its end: conveyor's ids begin with their creation time, so jobs made
 * within a minute share their first characters and only the random end tells them
 * apart (as in `conveyor up`'s table). Other ids show their beginning.
 */
export function shortId(id) {
  if (UUID.test(id)) return `…${id.slice(-8)}`;
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

// Characters that reorder the text around them (U+202E turns "evil.txt" round): in a
// value shown as JSON they could make the rest of its line read differently.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Any JSON value as text for a <pre>: on one line when short, else indented. Direction
 * controls are shown as their JSON escapes (still the same JSON), not obeyed.
 */
export function json(value) {
  const compact = JSON.stringify(value);
  const text = compact !== undefined && compact.length <= 80 ? compact : JSON.stringify(value, null, 2);
  return text === undefined ? text : text.replace(BIDI_CONTROLS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A <progress> bar with its percentage next to it, both labelled for screen readers. */
export function progressBar(fraction, label = "Progress") {
  const value = fraction === null || fraction === undefined ? null : Math.max(0, Math.min(1, fraction));
  if (value === null) return h("span", { class: "progress muted", "aria-label": `${label}: not reported` }, "—");
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: "1", value: String(value), "aria-label": label }),
    h("span", { class: "progress-text" }, percent(value)),
  );
}

/** "08:31:02" for today, "2026-11-22 08:31" for other days. */
export function shortTime(iso) {
  if (!iso) return "—";
  const full = dateTime(iso);
  const today = dateTime(new Date().toISOString()).slice(0, 10);
  return full.startsWith(today) ? full.slice(11) : full.slice(0, 16);
}

/**
 * How far `iso` is from `now` (milliseconds), as "in 4 min", "in 2 h 5 min", "in 3 days",
 * "12 s ago"; coarse enough that a list drawn from it changes at most every few seconds.
 */
export function relativeTime(iso, now = Date.now()) {
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return String(iso);
  const ms = at - now;
  const s = Math.round(Math.abs(ms) / 1000);
  let text;
  if (s < 1) return "now";
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 48 * 3600) {
    const minutes = Math.floor((s % 3600) / 60);
    text = `${Math.floor(s / 3600)} h${minutes ? ` ${minutes} min` : ""}`;
  }
  else text = `${Math.round(s / 86400)} days`;
  return ms > 0 ? `in ${text}` : `${text} ago`;
}
