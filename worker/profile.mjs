// Where a key release's time goes on the Worker under wrangler dev --local
// (docs/BENCHMARKS.md, Workers): D1 calls per release and their time, the
// time in Go, and D1's bare round trip, read from the test routes
// /_worker/stats and /_worker/d1ping. Builds nothing: run `make build worker`
// first. Not a benchmark of record (worker/bench.mjs is): it measures one
// server, so its figures move with the machine's load.
//
// Environment: PROFILE_REQUESTS releases per measurement (500), PROFILE_SECONDS
// the most one may take (30).
import { execFileSync } from "node:child_process";
import http from "node:http";
import { request, startInstallation } from "./install.mjs";
import { softPasskey } from "./softauthn.mjs";

const N = Number(process.env.PROFILE_REQUESTS || 500);
const SECONDS = Number(process.env.PROFILE_SECONDS || 30);
const ENVELOPES = 10;

async function json(url, method = "GET") {
  const res = await request(url, { method });
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body.toString());
}

// recipient: ENVELOPES sealed to Bob, who registers and adds a passkey.
async function recipient(inst) {
  const ids = [];
  for (let i = 0; i < ENVELOPES; i++) {
    ids.push(inst.seal(`From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: P${i}\r\n\r\nHi\r\n`)[0].id);
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
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${res.body}`);
    return JSON.parse(res.body.toString() || "null");
  };
  await call("POST", "/api/v1/register/start", { envelope_id: ids[0], first_name: "Bob", last_name: "Patient" });
  await call("POST", "/api/v1/register/verify", { envelope_id: ids[0], code: (await inst.code("bob@patient.example")).code });
  const begin = await call("POST", "/api/v1/account/passkeys/begin");
  const credential = softPasskey(inst.url).create(begin.options);
  await call("POST", "/api/v1/account/passkeys/finish", { ceremony: begin.ceremony, credential, name: "profile key" });
  return { ids, cookie };
}

function post(agent, url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

// load: clients closed-loop clients until n releases or the time limit.
async function load(base, r, clients, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const times = [];
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < n && performance.now() < deadline) {
          const i = next++;
          const t = performance.now();
          const res = await post(agent, `${base}/api/v1/envelopes/${r.ids[i % r.ids.length]}/key`, { Cookie: r.cookie, "X-Waxseal-CSRF": "1" });
          if (res.status !== 200) throw new Error(`release: ${res.status} ${res.body}`);
          times.push(performance.now() - t);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const secs = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { n: times.length, rps: times.length / secs, p50: times[Math.floor(times.length / 2)], mean: times.reduce((a, b) => a + b, 0) / times.length };
}

const ms = (ns, n) => (ns / 1e6 / n).toFixed(2);

const inst = await startInstallation({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" } });
try {
  const base = inst.url.replace("localhost", "127.0.0.1");
  const r = await recipient(inst);
  await load(base, r, 8, 200); // warm-up
  const ping = await json(`${base}/_worker/d1ping?n=200`, "POST");
  console.log(`load: ${execFileSync("uptime").toString().trim()}`);
  console.log(`D1 bare round trip (SELECT 1, one batch after another, in Go): ${ping.mean_ms.toFixed(2)} ms`);
  for (const c of [1, 8]) {
    await json(`${base}/_worker/stats?reset=1`);
    const m = await load(base, r, c, N);
    const s = await json(`${base}/_worker/stats?reset=1`);
    const d = s.d1;
    const sv = s.serve;
    console.log(`${c} client(s): ${m.n} releases, ${m.rps.toFixed(0)}/s, client p50 ${m.p50.toFixed(2)} ms, mean ${m.mean.toFixed(2)} ms`);
    console.log(`  D1 per release: ${(d.batches / m.n).toFixed(2)} batches, ${(d.statements / m.n).toFixed(2)} statements, ${(d.rows / m.n).toFixed(2)} rows; other awaits (R2) ${(d.awaits / m.n).toFixed(2)}`);
    console.log(`  per D1 batch: wait ${ms(d.wait_ns, d.batches)} ms, build ${ms(d.build_ns, d.batches)} ms, read ${ms(d.read_ns, d.batches)} ms`);
    console.log(`  per request in Go (${sv.requests}): start ${ms(sv.start_ns, sv.requests)} ms, handler ${ms(sv.handler_ns, sv.requests)} ms (of which D1 wait ${ms(d.wait_ns, sv.requests)}, build+read ${ms(d.build_ns + d.read_ns, sv.requests)}), reply ${ms(sv.reply_ns, sv.requests)} ms`);
  }
  await json(`${base}/_worker/stats?reset=1`);
  const plain = await (async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const t0 = performance.now();
    let n = 0;
    for (; n < N && performance.now() - t0 < SECONDS * 1000; n++) {
      await new Promise((resolve, reject) => http.get(`${base}/_worker/instance`, { agent }, (res) => (res.resume(), res.on("end", resolve))).on("error", reject));
    }
    agent.destroy();
    return { n, ms: (performance.now() - t0) / n };
  })();
  console.log(`GET /_worker/instance (no store), 1 client: ${plain.ms.toFixed(2)} ms each (${plain.n})`);
} finally {
  await inst.stop();
}
