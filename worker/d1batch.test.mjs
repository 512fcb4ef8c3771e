// internal/d1batch against wrangler's local D1, through the Worker's test
// route: a batch is atomic, a failed guard undoes its batch, times kept as
// text come back exactly, and integers JavaScript cannot hold are refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startWorker } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" } });
});
after(async () => {
  await worker?.stop();
});

test("D1 batches: atomic, guarded, exact", async () => {
  const res = await fetch(worker.url + "/_worker/d1batch", { method: "POST" });
  assert.equal(res.status, 200);
  const got = await res.json();
  assert.equal(got.setup, "ok");
  assert.equal(got.insert, "ok");
  assert.match(got.atomic.error, /UNIQUE constraint failed/);
  assert.equal(got.atomic.guard, false);
  assert.equal(got.guard_ok, "ok");
  assert.equal(got.guard_conflict.guard, true, JSON.stringify(got.guard_conflict));
  assert.match(got.unsafe_int.error, /does not fit a JavaScript number/);
  assert.deepEqual(got.rows, [
    // v: 1 + the one guarded bump; the atomic batch's update to 5 was undone.
    { k: "a", v: 2, at: "2026-12-04T15:04:05.123456789Z", b: "0001FF" },
    { k: "b", v: 1, at: "2026-12-04T15:04:05.123456789Z", b: "" }, // hex(NULL) is ""
  ]);
  assert.deepEqual(got.guard_rows, [{ n: 0 }]);
});
