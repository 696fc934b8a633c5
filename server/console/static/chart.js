// A small SVG bar chart built with DOM calls (no HTML strings, no inline style): one bar per point,
// up from the zero line for positive values, down for negative ones.

const SVG = "http://www.w3.org/2000/svg";

function node(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== null) element.textContent = text;
  return element;
}

/** points: [{label, value}] with values in [-1, 1]; returns an <svg> with a title for screen readers. */
export function barChart(points, { title, width = 640, height = 200 } = {}) {
  const pad = { top: 14, right: 12, bottom: 26, left: 40 };
  const inner = { width: width - pad.left - pad.right, height: height - pad.top - pad.bottom };
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  svg.append(node("title", {}, title));
  const y = (value) => pad.top + ((1 - value) / 2) * inner.height;
  for (const tick of [1, 0.5, 0, -0.5, -1]) {
    svg.append(node("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick),
      class: tick === 0 ? "axis" : "grid" }));
    svg.append(node("text", { x: pad.left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" },
      tick.toFixed(1)));
  }
  const slot = inner.width / Math.max(points.length, 1);
  const bar = Math.min(36, slot * 0.7);
  points.forEach((point, index) => {
    const x = pad.left + slot * index + (slot - bar) / 2;
    const top = y(Math.max(point.value, 0));
    const bottom = y(Math.min(point.value, 0));
    const rect = node("rect", { x, y: top, width: bar, height: Math.max(bottom - top, 1),
      class: point.value >= 0 ? "bar up" : "bar down" });
    rect.append(node("title", {}, `${point.label}: ${point.value.toFixed(3)}`));
    svg.append(rect);
    svg.append(node("text", { x: x + bar / 2, y: height - 8, class: "tick", "text-anchor": "middle" }, point.label));
  });
  return svg;
}

/** points: [{x, y}] in order of x; the y axis spans the values seen. */
export function lineChart(points, { title, width = 420, height = 160 } = {}) {
  const pad = { top: 12, right: 10, bottom: 20, left: 60 };
  const inner = { width: width - pad.left - pad.right, height: height - pad.top - pad.bottom };
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  svg.append(node("title", {}, title));
  const ys = points.map((p) => p.y);
  let [low, high] = [Math.min(...ys), Math.max(...ys)];
  if (!(high > low)) { low -= 1; high += 1; }
  const xs = points.map((p) => p.x);
  const [first, last] = [Math.min(...xs), Math.max(...xs)];
  const x = (value) => pad.left + (last > first ? ((value - first) / (last - first)) * inner.width : inner.width / 2);
  const y = (value) => pad.top + (1 - (value - low) / (high - low)) * inner.height;
  for (const tick of [high, (high + low) / 2, low]) {
    svg.append(node("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.append(node("text", { x: pad.left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" },
      Number(tick.toPrecision(3)).toString()));
  }
  svg.append(node("text", { x: pad.left, y: height - 4, class: "tick" }, `step ${first}`));
  svg.append(node("text", { x: width - pad.right, y: height - 4, class: "tick", "text-anchor": "end" }, `step ${last}`));
  if (points.length) {
    svg.append(node("polyline", { class: "line", points: points.map((p) => `${x(p.x)},${y(p.y)}`).join(" ") }));
    const end = points[points.length - 1];
    svg.append(node("circle", { class: "dot-end", cx: x(end.x), cy: y(end.y), r: 3 }));
  }
  return svg;
}
