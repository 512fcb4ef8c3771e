// wrangler dev --local without its DevTools inspector, for worker/bench.mjs:
// the same local runtime (Miniflare, workerd, local D1 and R2), started
// through wrangler's own API (unstable_startWorker) with dev.inspector off,
// which the wrangler dev command cannot do.
//
// Why: wrangler dev always attaches an inspector to the Worker, enables its
// Network domain, and passes every event (a request for each D1 call, each
// console line) through its proxy Worker to its Node process, which writes
// each to a debug log file, whether or not DevTools is open. On this 2-core
// machine that took more CPU than the Worker itself (docs/BENCHMARKS.md,
// Workers); deployed Workers have none of it.
//
// Takes the wrangler dev flags harness.mjs passes: --port, --persist-to,
// --config, --log-level, --var NAME:VALUE (repeated); --ip must be 127.0.0.1.
// Prints "ready URL" and runs until SIGTERM or SIGINT. Needs Node >= 22, as
// wrangler does.
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";

const { values } = parseArgs({
  options: {
    ip: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "persist-to": { type: "string" },
    config: { type: "string" },
    "log-level": { type: "string", default: "warn" },
    var: { type: "string", multiple: true, default: [] },
    local: { type: "boolean" },
  },
  allowPositionals: true,
});
if (values.ip !== "127.0.0.1") throw new Error("devserver.mjs listens on 127.0.0.1 only");
const bindings = {};
for (const v of values.var) {
  const i = v.indexOf(":");
  bindings[v.slice(0, i)] = { type: "plain_text", value: v.slice(i + 1) };
}
const worker = await unstable_startWorker({
  config: values.config,
  bindings,
  dev: {
    remote: false,
    inspector: false,
    server: { hostname: "127.0.0.1", port: Number(values.port) },
    persist: values["persist-to"],
    logLevel: values["log-level"],
    watch: false,
    liveReload: false,
  },
});
await worker.ready;
console.log(`ready ${(await worker.url).href}`);
// wrangler's handles do not keep Node running by themselves.
const alive = setInterval(() => {}, 1 << 30);
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    clearInterval(alive);
    await worker.dispose();
    process.exit(0);
  });
}
