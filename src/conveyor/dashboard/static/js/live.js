// Live updates: a poller for the cheap stats endpoints, and a job watcher that follows
// one job's Server-Sent Events (read with fetch, so the API key goes in a header, which
// EventSource cannot send), falling back to the long-poll endpoint.

import { ApiError, api, apiUrl, auth, readResponse, retryAfterMs } from "./api.js";

const listeners = new Set();
const failing = new Map(); // source -> message of its last failure

/** Tell whoever shows the "live" indicator whether every source of updates works. */
export function onLiveState(listener) {
  listeners.add(listener);
}

function setLive(source, ok, message = "") {
  if (ok) failing.delete(source);
  else failing.set(source, message);
  const [firstProblem] = failing.values();
  for (const listener of listeners) listener(failing.size === 0, firstProblem ?? "");
}

/**
 * Call `task()` now and then every `intervalMs` until the returned stop() is called.
 * Runs never overlap; a failed run is reported through `onError` and retried, after
 * the wait a rate limit (429) asks for when longer. Pauses while the tab is hidden.
 */
export function poll(task, intervalMs, onError = () => {}) {
  const source = Symbol("poll");
  let stopped = false;
  let timer = null;
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
      if (!stopped) setLive(source, true);
    } catch (error) {
      if (!stopped && error.name !== "AbortError") {
        setLive(source, false, error.message);
        onError(error);
        wait = Math.max(wait, retryAfterMs(error));
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
    failing.delete(source);
  };
}

/**
 * Follow one job until it ends or stop() is called: `onEvent({event, data})` for each
 * SSE event ("job_update", "job_complete"). If the stream cannot be opened or breaks,
 * fall back to long polls, which report changes as "job_update"/"job_complete" too.
 */
export function watchJob(jobId, onEvent) {
  const source = Symbol("watch");
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
        return;
      }
    }
    if (!done && !signal.aborted) await followPolls(jobId, onEvent, signal, source);
  })();
  return () => {
    controller.abort();
    failing.delete(source);
  };
}

/** Read the SSE stream; true if it delivered job_complete. */
async function followStream(jobId, onEvent, signal, source) {
  const url = apiUrl(`jobs/status/${encodeURIComponent(jobId)}/stream`);
  const response = await fetch(url, { headers: { Accept: "text/event-stream", ...auth.headers() }, signal });
  if (!response.ok || !response.body) {
    await readResponse(response);
    return false;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let completed = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return completed;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const message = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (!message) continue;
      setLive(source, true);
      onEvent(message);
      if (message.event === "job_complete") completed = true;
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
      setLive(source, true);
      if (status.status !== current) {
        current = status.status;
        const terminal = ["completed", "failed", "cancelled"].includes(current);
        onEvent({ event: terminal ? "job_complete" : "job_update", data: status });
        if (terminal) return;
      }
    } catch (error) {
      if (signal.aborted) return;
      setLive(source, false, error.message);
      if (error instanceof ApiError && (error.status === 404 || error.status === 401)) {
        onEvent({ event: "error", data: error });
        return;
      }
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 500 * 2 ** failures)));
    }
  }
}
