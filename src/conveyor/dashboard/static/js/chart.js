// A small SVG area chart of a rolling series, drawn without a library.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/**
 * Draw `points` ([{t: ms, v: number}], oldest first) over the last `spanMs` into an
 * <svg> that scales to its container; give the container's `width` so that text keeps
 * its size. `label` is read by screen readers.
 */
export function areaChart(points, { spanMs, now = Date.now(), label = "Chart", unit = "", width = 600 } = {}) {
  const height = 160;
  const pad = { left: 36, right: 8, top: 10, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const start = now - spanMs;
  const visible = points.filter((p) => p.t >= start);
  // The last sample holds until the next one: draw it up to now.
  if (visible.length && visible[visible.length - 1].t < now) visible.push({ t: now, v: visible[visible.length - 1].v });
  const max = niceMax(Math.max(1, ...visible.map((p) => p.v)));
  const x = (t) => pad.left + ((t - start) / spanMs) * plotW;
  const y = (v) => pad.top + plotH - (v / max) * plotH;

  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
  const title = svg("title");
  const latest = visible.length ? visible[visible.length - 1].v : 0;
  title.textContent = `${label}: ${latest}${unit} now, highest ${Math.max(0, ...visible.map((p) => p.v))}${unit}`;
  root.append(title);

  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid" }));
    const text = svg("text", { x: pad.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" });
    text.textContent = formatTick(value);
    root.append(text);
  }
  for (const [fraction, text] of [[0, spanLabel(spanMs)], [1, "now"]]) {
    const node = svg("text", { x: pad.left + fraction * plotW, y: height - 4, class: "axis", "text-anchor": fraction ? "end" : "start" });
    node.textContent = text;
    root.append(node);
  }
  if (visible.length) {
    const line = visible.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" L");
    const first = x(visible[0].t).toFixed(1);
    const last = x(visible[visible.length - 1].t).toFixed(1);
    const base = y(0).toFixed(1);
    root.append(svg("path", { d: `M${first},${base} L${line} L${last},${base} Z`, class: "area" }));
    root.append(svg("path", { d: `M${line}`, class: "line" }));
    const latestPoint = visible[visible.length - 1];
    root.append(svg("circle", { cx: x(latestPoint.t).toFixed(1), cy: y(latestPoint.v).toFixed(1), r: 3.5, class: "dot" }));
  } else {
    const empty = svg("text", { x: width / 2, y: height / 2, class: "axis", "text-anchor": "middle" });
    empty.textContent = "collecting samples…";
    root.append(empty);
  }
  return root;
}

function niceMax(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(value) {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function spanLabel(ms) {
  const minutes = Math.round(ms / 60000);
  return minutes >= 60 ? `${Math.round(minutes / 60)} h ago` : `${minutes} min ago`;
}
