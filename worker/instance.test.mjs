// The Worker's entry keeps one Go instance per isolate, replaces it after the
// Go program exits, and translates requests and responses faithfully.
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

async function instance() {
  const res = await fetch(worker.url + "/_worker/instance");
  assert.equal(res.status, 200);
  return res.json();
}

test("one Go instance answers request after request", async () => {
  const first = await instance();
  for (let i = 1; i <= 50; i++) {
    const got = await instance();
    assert.equal(got.id, first.id, `request ${i} was answered by another Go instance`);
    assert.equal(got.served, first.served + i);
  }
});

test("concurrent requests share the instance", async () => {
  const first = await instance();
  const got = await Promise.all(Array.from({ length: 40 }, () => instance()));
  assert.deepEqual(new Set(got.map((g) => g.id)), new Set([first.id]));
  const served = got.map((g) => g.served).sort((a, b) => a - b);
  assert.deepEqual(served, Array.from({ length: 40 }, (_, i) => first.served + 1 + i));
});

test("after the Go program exits, the next request starts a new instance", async () => {
  const before = await instance();
  const res = await fetch(worker.url + "/_worker/exit", { method: "POST" });
  assert.equal(res.status, 502);
  assert.match(await res.text(), /exited with code 3/);
  const fresh = await instance();
  assert.notEqual(fresh.id, before.id);
  assert.equal(fresh.served, 1);
  const again = await instance();
  assert.equal(again.id, fresh.id);
  assert.equal(again.served, 2);
});

test("requests and responses cross the JavaScript boundary intact", async () => {
  const body = randomBytes(1 << 20);
  const res = await fetch(worker.url + "/_worker/echo?x=1&y=%C3%A9", {
    method: "POST",
    headers: { "X-Test": "one", "Content-Type": "application/octet-stream" },
    body,
  });
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
  const got = await res.json();
  assert.equal(got.method, "POST");
  assert.equal(got.path, "/_worker/echo");
  assert.equal(got.query, "x=1&y=%C3%A9");
  assert.equal(got.length, body.length);
  assert.equal(got.sha256, createHash("sha256").update(body).digest("hex"));
  assert.deepEqual(got.x_test, ["one"]);
  assert.match(got.remote_addr, /^[0-9a-f.:[\]]+:0$/);
});

test("password routes are refused", async () => {
  for (const route of ["/api/v1/signin/password", "/api/v1/password/forgot", "/api/v1/password/reset", "/api/v1/account/password"]) {
    const res = await fetch(worker.url + route, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(res.status, 403, route);
    const got = await res.json();
    assert.equal(got.error, "forbidden");
    assert.match(got.message, /this server does not use passwords/);
  }
});

test("a Go timer set during a request that has ended still wakes the request waiting for it", async () => {
  // workerd drops a request's timers when it ends; Go keeps one JavaScript
  // timer for its earliest and does not ask again. Without the entry's
  // watchGoTimer, the GET below waited forever (every try, from 50 ms sleeps on).
  const stats = async () => (await (await fetch(worker.url + "/_worker/stats")).json()).io;
  const before = await stats();
  for (const ms of [50, 300]) {
    const started = await fetch(worker.url + `/_worker/timer?ms=${ms}`, { method: "POST" });
    assert.equal(started.status, 202);
    const res = await fetch(worker.url + "/_worker/timer", { signal: AbortSignal.timeout(20_000) });
    assert.equal(res.status, 200);
    assert.equal(typeof (await res.json()).waited_ms, "number");
  }
  assert.ok((await stats()).woken > before.woken, "no rescue timer woke Go");
});

// Deployed, a Worker has no inspector attached; wrangler dev always attaches
// one, and worker/bench.mjs measures both. worker/devserver.mjs runs the same
// local runtime without it: the program must start, log and serve there too.
test("without an inspector attached (as deployed), the Go program logs and serves", async () => {
  const quiet = await startWorker({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" }, devtools: false, logLevel: "log" });
  try {
    // No master key: the program logged at its start that the key server is
    // unavailable, and serves its 503 on every key-server route, by the same
    // Go instance.
    const first = await fetch(quiet.url + "/_worker/instance").then((r) => r.json());
    for (let i = 0; i < 3; i++) {
      const res = await fetch(quiet.url + "/healthz");
      assert.equal(res.status, 503);
      assert.match(await res.text(), /WAXSEAL_MASTER_KEY is not set/);
    }
    const got = await fetch(quiet.url + "/_worker/instance").then((r) => r.json());
    assert.equal(got.id, first.id, "a request was answered by a new Go instance: the first one ended");
    assert.match(quiet.log(), /level=ERROR msg="key server unavailable"/);
  } finally {
    await quiet.stop();
  }
});
