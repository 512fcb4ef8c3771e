// The keyserver/storetest contract suite against D1 and R2: the Go test binary
// of keyserver/d1store runs inside workerd (worker/storetest-entry.mjs) under
// wrangler dev --local, and must pass. `make test-worker` builds it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startWorker } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ config: "storetest.toml", readyPath: "/" });
});
after(async () => {
  await worker?.stop();
});

// The whole contract runs, the concurrency cases with it: an isolate's writes
// take turns and key releases commit in groups (keyserver/d1store), so 64
// goroutines cost seconds of D1 round trips rather than minutes of retries.
// Also d1store's own tests (the orphan sweep's paging, the row limit).
test("d1store passes the storetest contract on D1", { timeout: 10 * 60 * 1000 }, async () => {
  const args = ["-test.v", "-test.timeout", "240s", "-test.run", process.env.D1STORE_RUN || "."];
  const res = await fetch(worker.url + "/run", { method: "POST", body: JSON.stringify(args) });
  assert.equal(res.status, 200);
  const { code, output } = await res.json();
  const failed = output.split("\n").filter((l) => /--- FAIL|^\s+\S+\.go:\d+:/.test(l));
  if (code !== 0) console.log(output);
  assert.equal(code, 0, `go test in workerd failed:\n${failed.join("\n")}`);
  assert.match(output, /--- PASS: TestContract/);
});
