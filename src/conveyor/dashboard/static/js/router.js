// Hash routing ("#/jobs/abc?x=1"), so the dashboard works as plain static files.

const routes = [];

/** Register `pattern` ("/jobs/:id") for `view(main, params, query) -> cleanup`; `name` marks the nav entry. */
export function route(pattern, name, view, title) {
  const keys = [];
  const source = pattern.replace(/:([a-z]+)/g, (_, key) => {
    keys.push(key);
    return "([^/]+)";
  });
  routes.push({ regex: new RegExp(`^${source}/?$`), keys, name, view, title });
}

/** The route for the current hash: {name, title, view, params, query}, or null. */
export function match(hash = location.hash) {
  const text = hash.replace(/^#/, "") || "/";
  const [path, search = ""] = text.split("?", 2);
  for (const entry of routes) {
    const found = entry.regex.exec(path);
    if (!found) continue;
    const params = {};
    entry.keys.forEach((key, index) => {
      params[key] = decode(found[index + 1]);
    });
    return { name: entry.name, title: entry.title, view: entry.view, params, query: new URLSearchParams(search) };
  }
  return null;
}

/** A %-escaped part of the hash as text; as typed when it is no valid escape ("#/jobs/100%"). */
function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
