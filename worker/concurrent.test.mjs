// Concurrent key releases on the Worker: goroutines of one request wake those
// of others (the D1 store's write turn, a group commit's outcome) and then make
// their D1 calls in the waker's request context. worker/entry.mjs keeps every
// context open until no request is in flight; without that, workerd dropped
// the answers of calls whose request had ended and these releases hung until
// the store's 30 s timeout, then failed with 500.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { request, startInstallation } from "./install.mjs";
import { softPasskey } from "./softauthn.mjs";

let inst;
before(async () => {
  inst = await startInstallation();
});
after(async () => {
  await inst?.stop();
});

test("32 key releases from 8 concurrent clients all succeed", { timeout: 180_000 }, async () => {
  const ids = [];
  for (let i = 0; i < 4; i++) {
    ids.push(inst.seal(`From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: R${i}\r\n\r\nHi\r\n`)[0].id);
  }
  let cookie = "";
  const call = async (method, route, body) => {
    const headers = { "X-Waxseal-CSRF": "1" };
    if (cookie) headers.Cookie = cookie;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await request(inst.url + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    for (const c of res.headers["set-cookie"] || []) {
      const [pair] = c.split(";");
      if (pair.startsWith("waxseal=")) cookie = pair;
    }
    return { status: res.status, json: JSON.parse(res.body.toString() || "null") };
  };
  let r = await call("POST", "/api/v1/register/start", { envelope_id: ids[0], first_name: "Bob", last_name: "Patient" });
  assert.equal(r.status, 202);
  r = await call("POST", "/api/v1/register/verify", { envelope_id: ids[0], code: (await inst.code("bob@patient.example")).code });
  assert.equal(r.status, 200);
  r = await call("POST", "/api/v1/account/passkeys/begin");
  assert.equal(r.status, 200);
  const credential = softPasskey(inst.url).create(r.json.options);
  r = await call("POST", "/api/v1/account/passkeys/finish", { ceremony: r.json.ceremony, credential, name: "test key" });
  assert.equal(r.status, 201);

  // 8 clients, 4 releases each, one after another per client.
  const results = await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      const out = [];
      for (let i = 0; i < 4; i++) out.push(await call("POST", `/api/v1/envelopes/${ids[(c + i) % ids.length]}/key`));
      return out;
    }),
  );
  const statuses = results.flat().map((x) => x.status);
  assert.deepEqual(statuses, Array(32).fill(200));
  for (const x of results.flat()) assert.ok(x.json.server_key);
});
