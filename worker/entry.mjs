// The Worker's entry: one Go instance per isolate, started on the first
// request and reused for every later one; if the Go program exits (a crash, or
// os.Exit), requests in flight fail with 502 and the next one starts a fresh
// instance. internal/workerserve is the Go side of this protocol.
//
// The generated worker.mjs of syumai/workers starts a new Go instance for every
// request (about 50 key-server requests a second, 2 s for the first); this
// entry replaces it. wasm_exec.js is Go's own, copied by `make worker` from the
// toolchain that built the .wasm.
import "../build/worker/wasm_exec.js";
import "./d1batch.mjs";
import mod from "../build/worker/waxseal-worker.wasm";
// The static files (scripts, styles, the decryptor) are the Worker's static
// assets, which Cloudflare serves without running the Worker ([assets] in
// wrangler.toml): this list, written with them by `make worker`, is how the Go
// program names them in its pages (assets.Static).
import staticFiles from "../build/worker/static.json";

// syumai/workers' D1 and R2 packages call globalThis.tryCatch.
globalThis.tryCatch = (fn) => {
  try {
    return { result: fn() };
  } catch (e) {
    return { error: e };
  }
};

let current = null; // the live instance: { go, binding, exited }

// start runs a new Go instance and resolves once it has published serve.
async function start(env, ctx) {
  const binding = {};
  // The Go program reads its bindings (env) from globalThis.context, as
  // syumai/workers does; env is the same for every request of an isolate.
  globalThis.context = { env, ctx, binding, staticFiles: JSON.stringify(staticFiles) };
  const go = new Go();
  // wasm_exec.js calls go.exit from inside the Go program's own exit, which
  // then fails on its next step into JavaScript: the promise go.run returns
  // may never settle, so the exit is seen here.
  let exited;
  const exitedPromise = new Promise((resolve) => (exited = resolve));
  go.exit = (code) => exited(new Error(`the Go program exited with code ${code}`));
  let ready;
  const readyPromise = new Promise((resolve) => (ready = resolve));
  binding.ready = () => ready();
  const wakeIfLate = watchGoTimer(go);
  const instance = new WebAssembly.Instance(mod, go.importObject);
  go.run(instance).then(
    () => exited(new Error("the Go program returned")),
    (err) => exited(err),
  );
  const state = { go, binding, exited: exitedPromise, wakeIfLate };
  exitedPromise.then(() => {
    if (current === state) current = null;
  });
  const early = await Promise.race([readyPromise.then(() => null), exitedPromise]);
  if (early) throw new Error(`the Go program ended before it was ready: ${early.message}`);
  return state;
}

// watchGoTimer follows the one JavaScript timer Go keeps for its earliest
// timer (wasm_exec.js's runtime.scheduleTimeoutEvent) and returns wakeIfLate,
// which resumes Go once that timer's time has passed. Go asks for the timer in
// whichever request's event it is in, workerd drops a request's timers when
// the request ends, and Go asks again only when its earliest timer changes:
// so a goroutine sleeping past the end of the request that set its timer (a
// backoff, a timeout) slept until something else entered Go, and a request
// waiting for it hung (seen: POST then GET /_worker/timer, worker/instance
// test). Every open request's rescue timer calls wakeIfLate; on its resume Go
// clears its old timer and, if it still has one, asks again, in that request.
function watchGoTimer(go) {
  const gojs = go.importObject.gojs;
  const schedule = gojs["runtime.scheduleTimeoutEvent"];
  const clear = gojs["runtime.clearTimeoutEvent"];
  let wake = null; // { id, at }: at in performance.now() time, as Go's clock
  gojs["runtime.scheduleTimeoutEvent"] = (sp) => {
    schedule(sp);
    sp >>>= 0;
    const delay = go.mem.getUint32(sp + 8, true) + go.mem.getInt32(sp + 12, true) * 4294967296;
    wake = { id: go.mem.getInt32(sp + 16, true), at: performance.now() + delay };
  };
  gojs["runtime.clearTimeoutEvent"] = (sp) => {
    if (wake && wake.id === go.mem.getInt32((sp >>> 0) + 8, true)) wake = null;
    clear(sp);
  };
  return () => {
    if (wake && !go.exited && performance.now() >= wake.at) {
      globalThis.waxsealIOStats.woken++;
      go._resume();
    }
  };
}

let starting = null;

// instance returns the live Go instance, starting one if there is none.
async function instance(env, ctx) {
  if (current && current.go.exited) current = null;
  if (current) return current;
  if (!starting) {
    starting = start(env, ctx).then(
      (state) => {
        starting = null;
        current = state;
        return state;
      },
      (err) => {
        starting = null;
        throw err;
      },
    );
  }
  return starting;
}

// rescueMs is how often a request's timer looks for a lost io loop (below).
const rescueMs = 5;

// Counts of the io loops' trips through another request's context, for the
// test routes (cmd/waxseal-worker reads them through /_worker/stats).
globalThis.waxsealIOStats = { lost: 0, rescued: 0, woken: 0 };

// requestIO returns the io function of one request (internal/jsio): Go calls
// io(target, method, args, done) to start a D1 or R2 call, settled with
// done(true, value) or done(false, error), and it is
// started here, in this request's own context, whichever request's event Go
// happens to be running in. Go runs a goroutine in whichever event is running
// when it is ready, so a goroutine woken by another request (the D1 store's
// write turn handed over, a group commit's outcome) would otherwise start its
// calls in that other request, and workerd drops the answer of a call whose
// request has ended (seen: 8 clients releasing keys, group reads hanging until
// their 30 s timeout). The loop below runs in this request: the promise it
// waits on is made here, and workerd usually runs what follows a promise
// resolved from another request in the request that made it
// (handle_cross_request_promise_resolution, on by default). Not always: under
// sustained load the loop was seen to continue in the resolver's context now
// and then, even after a promise made and followed while this request's
// context was current (checked as here() does), and the D1 call it started
// there failed ("Cannot perform I/O on behalf of a different request (I/O
// type: SpanParent)": the binding's tracing span belongs to this request's
// async context). So the loop checks here() before it starts anything; if it
// is elsewhere, it stops, and the rescue timer, which fires in this request
// whatever event Go is in, runs it again here. After close, a call fails at
// once instead of hanging.
function requestIO() {
  const jobs = [];
  let wake = null;
  let open = true;
  let lost = false;
  // Reading an AbortSignal's state throws outside the request that made it:
  // here() tells whether this request's context is the current one.
  const owner = new AbortController().signal;
  const here = () => {
    try {
      void owner.aborted;
      return true;
    } catch {
      return false;
    }
  };
  const run = async () => {
    for (;;) {
      if (!here()) {
        // Continued in another request's context: starting a call here
        // would fail (or be tied to that request). Leave the jobs to the
        // rescue timer, which runs in this request.
        lost = true;
        globalThis.waxsealIOStats.lost++;
        return;
      }
      while (jobs.length) {
        const [target, method, args, done] = jobs.shift();
        try {
          target[method](...args).then((v) => done(true, v), (err) => done(false, err));
        } catch (err) {
          done(false, err);
        }
      }
      if (!open) return;
      await new Promise((resolve) => (wake = resolve));
      wake = null;
    }
  };
  // A timer runs its callback in the request that set it, whoever's event
  // is running, so this chain stays in this request for as long as it runs.
  const rescue = () => {
    if (lost) {
      lost = false;
      wake = null;
      globalThis.waxsealIOStats.rescued++;
      run();
    }
    if (current && !current.go.exited) {
      try {
        current.wakeIfLate(); // watchGoTimer
      } catch (err) {
        // Go failed while it ran (its exit is seen through state.exited):
        // the rescue goes on for this request's calls.
        console.error("waxseal: resuming Go for its timer:", err);
      }
    }
    if (open || lost) setTimeout(rescue, rescueMs);
  };
  run();
  setTimeout(rescue, rescueMs);
  const poke = () => wake && wake();
  const io = (target, method, args, done) => {
    if (!open) return done(false, new Error("the request this call serves has ended"));
    jobs.push([target, method, args, done]);
    poke();
  };
  io.close = () => {
    open = false;
    poke();
  };
  return io;
}

// lines is headers as internal/workerserve takes them: names and values each
// on a line of their own (neither can hold a line break).
function lines(headers) {
  const out = [];
  for (const [name, value] of headers) out.push(name, value);
  return out.join("\n");
}

const exitedResponse = (err) =>
  new Response(`the worker's Go program ended during this request: ${err.message}\n`, { status: 502 });

async function fetch(request, env, ctx) {
  let state;
  try {
    state = await instance(env, ctx);
  } catch (err) {
    return new Response(`the worker's Go program failed to start: ${err.message}\n`, { status: 500 });
  }
  // The Go program holds globalThis.context itself; ctx (waitUntil) belongs to
  // a request, so it is the latest request's.
  globalThis.context.ctx = ctx;
  const body = request.body ? new Uint8Array(await request.arrayBuffer()) : null;
  const io = requestIO();
  let result;
  try {
    result = await Promise.race([
      new Promise((resolve) =>
        state.binding.serve(request.method, request.url, lines(request.headers), body, io, (status, headers, body) =>
          resolve({ status, headers, body }),
        ),
      ),
      state.exited.then((err) => ({ exited: err })),
    ]);
  } catch (err) {
    io.close();
    // Go code that runs after the program's exit throws from inside serve.
    if (!state.go.exited) throw err;
    if (current === state) current = null;
    return exitedResponse(await state.exited);
  }
  if (result.exited) {
    io.close();
    return exitedResponse(result.exited);
  }
  // Work the key server goes on with after its answer (a sign-in code mailed
  // after the same 202 for every address) makes its calls in this request, so
  // the request stays open until binding.idle settles: when that work, begun
  // by this request or another, is done.
  if (!state.go.exited && state.binding.idle) ctx.waitUntil(state.binding.idle().finally(() => io.close()));
  else io.close();
  const headers = new Headers();
  if (result.headers) {
    const h = result.headers.split("\n");
    try {
      for (let i = 0; i + 1 < h.length; i += 2) headers.append(h[i], h[i + 1]);
    } catch (err) {
      // A header the runtime refuses (a NUL in a value, a name that is no
      // token): an error of the Go program's answer, said as one.
      return new Response(`the worker's Go program answered with a header the runtime refuses: ${err.message}\n`, { status: 500 });
    }
  }
  const nullBody = result.status === 204 || result.status === 304 || request.method === "HEAD";
  // A body the Go side compressed itself (a gzipped logo: the scripts, styles
  // and decryptor are static assets) goes out as it is: by default workerd
  // compresses a body whose Content-Encoding it is given once more, and the
  // browser, decoding once, then fails an integrity check or shows nothing.
  const encodeBody = headers.has("Content-Encoding") ? "manual" : "automatic";
  return new Response(nullBody ? null : result.body, { status: result.status, headers, encodeBody });
}

// scheduled runs the Cron Trigger (wrangler.toml [triggers]): the expiry sweep
// and the outbox check, in the same Go instance as the requests.
async function scheduled(controller, env, ctx) {
  const state = await instance(env, ctx);
  globalThis.context.ctx = ctx;
  if (!state.binding.scheduled) throw new Error("the key server is not configured: nothing to sweep");
  const io = requestIO();
  let done;
  try {
    done = await Promise.race([
      state.binding.scheduled(controller.cron, io),
      state.exited.then((err) => {
        throw err;
      }),
    ]);
  } finally {
    io.close();
  }
  console.log(`scheduled ${controller.cron}: ${done.expired} envelope(s) expired, ${done.outbox} mail(s) in the outbox`);
}

export default { fetch, scheduled };
