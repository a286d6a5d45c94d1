// The only way the dashboard talks to the server: JSON over /api/v1, with the API key
// (kept in sessionStorage only, so it goes away with the tab) as a Bearer token.

const BASE = "api/v1";
const KEY_NAME = "conveyor.apiKey";

export class ApiError extends Error {
  /** `status` is the HTTP code (0 when the server could not be reached). */
  constructor(status, error, message, body = null) {
    super(message);
    this.status = status;
    this.error = error;
    this.body = body;
  }
}

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY_NAME);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_NAME, value);
    else sessionStorage.removeItem(KEY_NAME);
  },
  headers() {
    const key = this.key;
    return key ? { Authorization: `Bearer ${key}` } : {};
  },
};

/** The URL of an API path ("jobs/stats") with query parameters, empty ones left out. */
export function apiUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return `${BASE}/${path}${text ? `?${text}` : ""}`;
}

/**
 * Call the API and return the parsed JSON body. Throws ApiError with the server's
 * {error, message} on an error status, and a readable one when the server is down.
 * A 401 also tells the app (event "conveyor:unauthorized") so it can ask for a key.
 */
export async function api(path, { method = "GET", query = {}, body = undefined, signal = undefined } = {}) {
  const headers = { Accept: "application/json", ...auth.headers() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "NetworkError", "Cannot reach the conveyor server. Is it running?");
  }
  return readResponse(response);
}

/**
 * A page of GET /jobs as summaries: each job without its input, result, meta and metrics,
 * which the store then does not even read, so a list polled every second or two costs
 * the same however big the jobs are. A job's own page reads it whole (jobs/{id}).
 */
export function listJobs(query) {
  return api("jobs", { query: { ...query, view: "summary" } });
}

export async function readResponse(response) {
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  if (response.status === 401) window.dispatchEvent(new CustomEvent("conveyor:unauthorized"));
  const error = (data && data.error) || `HTTP ${response.status}`;
  const message = (data && data.message) || response.statusText || "The server answered with an error.";
  throw new ApiError(response.status, error, message, data);
}

/** Milliseconds the server asked to wait before asking again (429's retry_after_seconds), or 0. */
export function retryAfterMs(error) {
  if (!(error instanceof ApiError) || error.status !== 429) return 0;
  const seconds = Number(error.body && error.body.retry_after_seconds);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
}

/** One line for a person: "Job abc not found (JobNotFoundError)". */
export function describeError(error) {
  if (error instanceof ApiError) {
    const fields = error.body && Array.isArray(error.body.fields) ? error.body.fields : [];
    const details = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
    const name = error.status === 0 ? "" : ` (${error.error})`;
    return `${error.message}${details ? ` — ${details}` : ""}${name}`;
  }
  return error && error.message ? error.message : String(error);
}
