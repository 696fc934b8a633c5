// How values from the API read on the page: states, scores, sizes, times.

export function enumLabel(value, prefix) {
  if (!value) return "unknown";
  return String(value).replace(prefix, "").toLowerCase().replaceAll("_", " ");
}

export const deploymentState = (value) => enumLabel(value, "DEPLOYMENT_STATE_");
export const roundState = (value) => enumLabel(value, "ROUND_STATE_");
export const action = (value) => (value && value !== "ACTION_UNSPECIFIED" ? enumLabel(value, "ACTION_") : "—");

const integer = new Intl.NumberFormat("en-US");
export function count(value) {
  return integer.format(Number(value || 0));
}

export function score(value, digits = 3) {
  if (value === undefined || value === null) return "—";
  const number = Number(value);
  return (number > 0 ? "+" : "") + number.toFixed(digits);
}

export function bytes(value) {
  let size = Number(value || 0);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
  return unit === 0 ? `${size} B` : `${size.toFixed(size >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function dateTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function clock(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().slice(11, 23);
}

export function ago(value, now = Date.now()) {
  if (!value) return "never";
  const seconds = Math.round((now - new Date(value).getTime()) / 1000);
  if (Number.isNaN(seconds)) return String(value);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A proto3 JSON Duration ("300s", "1.5s") in words. */
export function duration(value) {
  if (!value) return "—";
  const seconds = Number(String(value).replace(/s$/, ""));
  if (Number.isNaN(seconds)) return String(value);
  if (seconds === 0) return "—";
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${+(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`;
  return `${+(seconds / 86400).toFixed(1)} d`;
}

export function shortId(value) {
  if (!value) return "—";
  return value.length > 14 ? `${value.slice(0, 12)}…` : value;
}

/** One of six badge colours, the same for a vendor everywhere, so rows of one vendor are easy to follow. */
export function hue(slug) {
  let hash = 0;
  for (const char of String(slug || "")) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `hue-${hash % 6}`;
}
