// Dates as the services use them: "YYYY-MM-DD", nights from the in-date
// (inclusive) to the out-date (exclusive).

const DAY_MS = 86400000;

/** Upstream's format check: ten characters, dashes at 4 and 7, digits elsewhere. */
export function isDateFormat(s) {
  return typeof s === "string" && /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(s);
}

/** Milliseconds of a valid calendar date (UTC), or null. */
export function parseDate(s) {
  if (!isDateFormat(s)) return null;
  const [y, m, d] = s.split("-").map(Number);
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return null;
  return t;
}

const pad = (n, w) => String(n).padStart(w, "0");

export function formatDate(t) {
  const d = new Date(t);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/**
 * The nights of a stay: [{start, end}] with end = start + 1 day. Empty when a
 * date is not a valid date or the out-date is not after the in-date (upstream
 * iterates zero times then, having parsed an invalid date as the zero time).
 */
export function nights(inDate, outDate) {
  const a = parseDate(inDate);
  const b = parseDate(outDate);
  const out = [];
  if (a === null || b === null) return out;
  for (let t = a; t < b; t += DAY_MS) out.push({ start: formatDate(t), end: formatDate(t + DAY_MS) });
  return out;
}
