// Concurrent key releases on the Worker: goroutines of one request wake those
// of others (the D1 store's write turn, a group commit's outcome) while Go runs
// inside the waker's request. Every D1 and R2 call is started in the request it
// serves, through the request's io function (worker/entry.mjs, internal/jsio);
// without that, workerd dropped the answers of calls started in a request that
// had ended, and these releases hung until the store's 30 s timeout, then
// failed with 500.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, registerWithPasskey, startInstallation } from "./install.mjs";

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
  const call = apiClient(inst.url);
  await registerWithPasskey(call, inst.url, ids[0], async () => (await inst.code("bob@patient.example")).code);

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
