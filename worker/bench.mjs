// Measures the Worker under wrangler dev --local: how long until it answers,
// the first request of a fresh Go instance, and requests per second with p50
// and p99 for 1 and 8 clients on a route served by the Go program. Run with
// `make worker && node worker/bench.mjs`; numbers go to docs/BENCHMARKS.md.
import { startWorker } from "./harness.mjs";

const N = Number(process.env.BENCH_REQUESTS || 2000);

async function timed(url, init) {
  const t = performance.now();
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status >= 500 && res.status !== 502) throw new Error(`${url}: ${res.status}`);
  return performance.now() - t;
}

async function load(url, clients) {
  const times = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next++ < N) times.push(await timed(url));
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1);
  return `${clients} client(s): ${(times.length / secs).toFixed(0)} req/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`;
}

const t0 = performance.now();
const worker = await startWorker({ vars: { WAXSEAL_WORKER_TEST_ROUTES: "1" } });
try {
  console.log(`wrangler dev answering after ${(performance.now() - t0).toFixed(0)} ms (first request included)`);
  const starts = [];
  for (let i = 0; i < 5; i++) {
    await timed(worker.url + "/_worker/exit", { method: "POST" });
    starts.push(await timed(worker.url + "/_worker/instance"));
  }
  console.log(`first request of a fresh Go instance: ${starts.map((s) => s.toFixed(0)).join(", ")} ms`);
  for (const path of ["/_worker/instance", "/api/v1/signin/password"]) {
    await load(worker.url + path, 8); // warm up
    for (const c of [1, 8]) console.log(`${path} ${await load(worker.url + path, c)}`);
  }
} finally {
  await worker.stop();
}
