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
