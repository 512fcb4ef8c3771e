// R2 through syumai/workers' r2 package, under the project's entry (which sets
// the globalThis.context those packages read): 10 MiB stored and read back.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { startWorker } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" } });
});
after(async () => {
  await worker?.stop();
});

test("10 MiB round trip through R2", async () => {
  const body = randomBytes(10 << 20);
  const sha = createHash("sha256").update(body).digest("hex");
  const put = await fetch(worker.url + "/_worker/r2", { method: "PUT", body });
  assert.equal(put.status, 200, await put.clone().text());
  assert.deepEqual(await put.json(), { key: sha, size: body.length });
  const get = await fetch(worker.url + "/_worker/r2/" + sha);
  assert.equal(get.status, 200);
  const got = Buffer.from(await get.arrayBuffer());
  assert.equal(got.length, body.length);
  assert.ok(got.equals(body), "R2 gave back other bytes");
  const missing = await fetch(worker.url + "/_worker/r2/" + "0".repeat(64));
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
});
