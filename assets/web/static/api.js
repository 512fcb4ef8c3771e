// The key server's JSON API as the pages call it: same-origin credentials, the
// CSRF header every state-changing call needs, and an answer object that never
// throws, so each caller handles a network failure like any other refusal.
"use strict";
// waxsealT is the page's message key in the page's language: the server puts
// the catalog's strings in <body data-strings> (package locale), so there is no
// second copy here: those of the ids the page's scripts write, as whole string
// literals (never made at run time, or the page will not have them; package
// assets). {name} in a message is filled from vars.
window.waxsealT = (function () {
  let strings = null;
  return function t(key, vars) {
    if (!strings) {
      try { strings = JSON.parse(document.body.dataset.strings || "{}"); } catch { strings = {}; }
    }
    const s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    return s.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
  };
})();
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
    return { ok: false, status: 0, data: { error: "network", message: window.waxsealT("network") } };
  }
  let data = {};
  try { data = await res.json(); } catch { /* an empty answer */ }
  return { ok: res.ok, status: res.status, data };
};

// waxsealDate writes a time as every page, mail and securedoc.html does:
// "4 December 2026, 15:04 UTC" (day, month in words, year, 24-hour time, and the
// time zone), here in the reader's own time zone and the page's language
// (<html lang>): "4 de diciembre de 2026, 15:04 CET"; dateOnly: the day alone.
window.waxsealDate = function formatDate(t, dateOnly) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const lang = document.documentElement.lang || "en";
  const locale = lang === "en" ? "en-GB" : lang;
  const day = new Intl.DateTimeFormat(locale, { day: "numeric", month: "long", year: "numeric" }).format(d);
  if (dateOnly) return day;
  const parts = Object.fromEntries(new Intl.DateTimeFormat(locale, {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${day}, ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
};
