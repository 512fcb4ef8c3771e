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
