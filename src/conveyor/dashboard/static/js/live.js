// Live updates: a poller for the cheap stats endpoints, and a job watcher that follows
// one job's Server-Sent Events (read with fetch, so the API key goes in a header, which
// EventSource cannot send), falling back to the long-poll endpoint.

import { ApiError, api, apiUrl, auth, readResponse, retryAfterMs } from "./api.js";

/** The longest wait between asks for a job or batch that is not there (see poll). */
export const ABSENT_MAX_MS = 10000;

const listeners = new Set();
const sources = new Map(); // each running source of updates -> its last report: null (none yet), "" (works) or why it fails
let announcing = false;

/**
 * Tell whoever shows the "live" indicator the state of the page's updates, as
 * `listener(state, problem)`: "ok" while every running source works, "down" while one
 * fails (`problem` says why), "none" when nothing on the page updates. Sources that have
 * not answered yet leave the state as it was shown.
 */
export function onLiveState(listener) {
  listeners.add(listener);
}

function open(kind) {
  const source = Symbol(kind);
  sources.set(source, null);
  announce();
  return source;
}

/** A source's report; one stopped meanwhile (its answer came late) has nothing to say. */
function report(source, ok, message = "") {
  if (!sources.has(source)) return;
  sources.set(source, ok ? "" : message || "no answer");
  announce();
}

function close(source) {
  if (sources.delete(source)) announce();
}

/**
 * Recompute the state once the current task is done: a view that stops its sources and
 * the next one that starts its own (one hash change) make one announcement, not a flash
 * of "none" between them.
 */
function announce() {
  if (announcing) return;
  announcing = true;
  queueMicrotask(() => {
    announcing = false;
    const reports = [...sources.values()].filter((value) => value !== null);
    const problem = reports.find((value) => value !== "");
    let state;
    if (problem !== undefined) state = "down";
    else if (reports.length) state = "ok";
    else if (sources.size) return; // none has answered yet: the last state shown still stands
    else state = "none";
    for (const listener of listeners) listener(state, problem ?? "");
  });
}

/**
 * Whether a failed call still shows the updates flow: a 404 is the server's answer about
 * what was asked for (a job not there, or not yet), not a connection that is down.
 */
function answered(error) {
  return error instanceof ApiError && error.status === 404;
}

/**
 * Call `task()` now and then every `intervalMs` until the returned stop() is called.
 * Runs never overlap; a failed run is reported through `onError` and retried, after
 * the wait a rate limit (429) asks for, or `onError` returns (ms), when longer. Pauses
 * while the tab is hidden.
 *
 * A page about one thing (a job, a batch) that answers 404 asks again ever more slowly
 * (each 404 is a line in the browser's console): every `intervalMs`, then twice that,
 * and so on up to `absentMaxMs`, back to `intervalMs` once the thing is there.
 */
export function poll(task, intervalMs, onError = () => {}, { absentMaxMs = intervalMs } = {}) {
  const source = open("poll");
  let stopped = false;
  let timer = null;
  let misses = 0; // 404s in a row
  const run = async () => {
    timer = null;
    if (stopped) return;
    if (document.hidden) {
      schedule();
      return;
    }
    let wait = intervalMs;
    try {
      await task();
      misses = 0;
      report(source, true);
    } catch (error) {
      if (!stopped && error.name !== "AbortError") {
        report(source, answered(error), error.message);
        const asked = onError(error);
        const absent = answered(error) ? Math.min(absentMaxMs, intervalMs * 2 ** misses++) : 0;
        wait = Math.max(wait, absent, retryAfterMs(error), typeof asked === "number" ? asked : 0);
      }
    }
    schedule(wait);
  };
  const schedule = (wait = intervalMs) => {
    if (!stopped) timer = setTimeout(run, wait);
  };
  run();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    close(source);
  };
}

/**
 * Follow one job until it ends or stop() is called: `onEvent({event, data})` for each
 * SSE event ("job_update", "job_complete"; "error" when the job is not there). If the
 * stream cannot be opened or breaks, fall back to long polls, which report changes as
 * "job_update"/"job_complete" too. The watcher stops counting as a source of updates
 * once it is done (the job ended or is not there).
 */
export function watchJob(jobId, onEvent) {
  const source = open("watch");
  const controller = new AbortController();
  const { signal } = controller;
  (async () => {
    let done = false;
    try {
      done = await followStream(jobId, onEvent, signal, source);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 404) {
        onEvent({ event: "error", data: error });
        done = true;
      }
    }
    if (!done && !signal.aborted) await followPolls(jobId, onEvent, signal, source);
    close(source);
  })();
  return () => {
    controller.abort();
    close(source);
  };
}

/** Read the SSE stream; true if it delivered job_complete, or said the job is gone. */
async function followStream(jobId, onEvent, signal, source) {
  const url = apiUrl(`jobs/status/${encodeURIComponent(jobId)}/stream`);
  const response = await fetch(url, { headers: { Accept: "text/event-stream", ...auth.headers() }, signal });
  if (!response.ok || !response.body) {
    await readResponse(response);
    return false;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let finished = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return finished;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const message = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (!message) continue;
      if (message.event === "store_unavailable") report(source, false, message.data.message);
      else report(source, true);
      onEvent(message);
      if (message.event === "job_complete" || message.event === "error") finished = true;
    }
  }
}

/** One SSE block ("event: x\ndata: {...}") as {event, data}; null for comments. */
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

async function followPolls(jobId, onEvent, signal, source) {
  let current = "";
  let failures = 0;
  while (!signal.aborted) {
    try {
      const status = await api(`jobs/status/${encodeURIComponent(jobId)}/poll`, {
        query: { current_status: current, timeout: 30 },
        signal,
      });
      failures = 0;
      report(source, true);
      if (status.status !== current) {
        current = status.status;
        const terminal = ["completed", "failed", "cancelled"].includes(current);
        onEvent({ event: terminal ? "job_complete" : "job_update", data: status });
        if (terminal) return;
      }
    } catch (error) {
      if (signal.aborted) return;
      report(source, answered(error), error.message);
      if (error instanceof ApiError && (error.status === 404 || error.status === 401)) {
        onEvent({ event: "error", data: error });
        return;
      }
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 500 * 2 ** failures)));
    }
  }
}
