// The key server's JSON API as the pages call it: same-origin credentials, the
// CSRF header every state-changing call needs, and an answer object that never
// throws, so each caller handles a network failure like any other refusal.
"use strict";
window.waxsealAPI = async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "X-Waxseal-CSRF": "1" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { error: "network", message: "The server cannot be reached. Check your connection and try again." } };
  }
  let data = {};
  try { data = await res.json(); } catch { /* an empty answer */ }
  return { ok: res.ok, status: res.status, data };
};

// waxsealDate writes a time as every page, mail and securedoc.html does:
// "4 December 2026, 15:04 UTC" (day, month in words, year, 24-hour time, and the
// time zone), here in the reader's own time zone; dateOnly: "4 December 2026".
window.waxsealDate = function formatDate(t, dateOnly) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZoneName: "short",
  }).formatToParts(d).map((p) => [p.type, p.value]));
  const day = `${parts.day} ${parts.month} ${parts.year}`;
  return dateOnly ? day : `${day}, ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
};
