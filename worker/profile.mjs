// Where a key release's time goes on the Worker under wrangler dev --local
// (docs/BENCHMARKS.md, Workers): D1 calls per release and their time, the
// time in Go, and D1's bare round trip, read from the test routes
// /_worker/stats and /_worker/d1ping. Builds nothing: run `make build worker`
// first. Not a benchmark of record (worker/bench.mjs is): it measures one
// server, so its figures move with the machine's load.
//
// It also reads each process's CPU time from /proc around each measurement:
// CPU ms a release in wrangler's Node process, each workerd (wrangler's proxy,
// and the one running the Worker and the local D1), and the load generator,
// for where the machine's cores go.
//
// Environment: PROFILE_REQUESTS releases per measurement (500), PROFILE_SECONDS
// the most one may take (30), PROFILE_DEVTOOLS=0 to run without wrangler dev's
// DevTools inspector (worker/devserver.mjs).
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { request, startInstallation } from "./install.mjs";
import { get, load, recipient, release } from "./load.mjs";

const N = Number(process.env.PROFILE_REQUESTS || 500);
const SECONDS = Number(process.env.PROFILE_SECONDS || 30);

async function json(url, method = "GET") {
  const res = await request(url, { method });
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body.toString());
}

const ms = (ns, n) => (ns / 1e6 / n).toFixed(2);

// cpu returns each process's CPU time so far in ms, by pid, with its command.
function cpu() {
  const tick = 100; // USER_HZ on Linux
  const out = new Map();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      out.set(pid, { cmd, ms: ((Number(f[11]) + Number(f[12])) * 1000) / tick });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// cpuPerRelease names the processes that used CPU between two cpu() readings.
function cpuPerRelease(a, b, n) {
  const rows = [];
  for (const [pid, p] of b) {
    const d = p.ms - (a.get(pid)?.ms ?? p.ms);
    if (d / n < 0.05) continue; // the machine's own background
    const exe = path.basename(p.cmd[0]);
    const what = exe === "workerd" ? "workerd" : p.cmd.some((c) => /wrangler|devserver/.test(c)) ? "wrangler's Node" : pid === String(process.pid) ? "load generator" : exe;
    rows.push({ what, pid, per: d / n });
  }
  return rows.sort((x, y) => y.per - x.per);
}

const inst = await startInstallation({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" }, devtools: process.env.PROFILE_DEVTOOLS !== "0" });
try {
  const base = inst.url.replace("localhost", "127.0.0.1");
  const r = { name: "worker", api: base, ...(await recipient(inst.url, (m) => inst.seal(m), async () => (await inst.code("bob@patient.example")).code)) };
  await load(8, 200, SECONDS, (a, i) => release(r, a, i)); // warm-up
  const ping = await json(`${base}/_worker/d1ping?n=200`, "POST");
  console.log(`load: ${execFileSync("uptime").toString().trim()}`);
  console.log(`D1 bare round trip (SELECT 1, one batch after another, in Go): ${ping.mean_ms.toFixed(2)} ms`);
  for (const c of [1, 8]) {
    await json(`${base}/_worker/stats?reset=1`);
    const c0 = cpu();
    const m = await load(c, N, SECONDS, (a, i) => release(r, a, i));
    const c1 = cpu();
    const s = await json(`${base}/_worker/stats?reset=1`);
    const d = s.d1;
    const sv = s.serve;
    console.log(`${c} client(s): ${m.n} releases, ${m.rps.toFixed(0)}/s, client p50 ${m.p50.toFixed(2)} ms, mean ${m.mean.toFixed(2)} ms`);
    console.log(`  D1 per release: ${(d.batches / m.n).toFixed(2)} batches, ${(d.statements / m.n).toFixed(2)} statements, ${(d.rows / m.n).toFixed(2)} rows; other awaits (R2) ${(d.awaits / m.n).toFixed(2)}`);
    console.log(`  per D1 batch: wait ${ms(d.wait_ns, d.batches)} ms, build ${ms(d.build_ns, d.batches)} ms, read ${ms(d.read_ns, d.batches)} ms`);
    const rows = cpuPerRelease(c0, c1, m.n);
    console.log(`  CPU ms a release: ${rows.map((x) => `${x.what} (${x.pid}) ${x.per.toFixed(2)}`).join(", ")}; all ${rows.reduce((a, x) => a + x.per, 0).toFixed(2)}`);
    console.log(`  per request in Go (${sv.requests}): start ${ms(sv.start_ns, sv.requests)} ms, handler ${ms(sv.handler_ns, sv.requests)} ms (of which D1 wait ${ms(d.wait_ns, sv.requests)}, build+read ${ms(d.build_ns + d.read_ns, sv.requests)}), reply ${ms(sv.reply_ns, sv.requests)} ms`);
  }
  await json(`${base}/_worker/stats?reset=1`);
  const plain = await load(1, N, SECONDS, (a) => get(a, `${base}/_worker/instance`));
  console.log(`GET /_worker/instance (no store), 1 client: ${plain.mean.toFixed(2)} ms each (${plain.n})`);
} finally {
  await inst.stop();
}
