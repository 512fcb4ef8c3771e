// A Worker that runs the Go test binary of keyserver/d1store inside workerd,
// where the D1 and R2 bindings exist (worker/d1store.test.mjs). POST /run with
// a JSON array of test flags runs a fresh Go instance with them and answers
// {code, output}. Test-only: `make test-worker` builds the binary.
import "../build/worker/wasm_exec.js";
import "./d1batch.mjs";
import mod from "../build/worker/d1store.test.wasm";

globalThis.tryCatch = (fn) => {
  try {
    return { result: fn() };
  } catch (e) {
    return { error: e };
  }
};

async function fetch(request, env, ctx) {
  if (request.method !== "POST") return new Response("storetest worker\n");
  const args = await request.json();
  globalThis.context = { env, ctx, binding: {} };
  let output = "";
  const decoder = new TextDecoder();
  globalThis.fs.writeSync = (fd, buf) => {
    output += decoder.decode(buf);
    return buf.length;
  };
  const go = new Go();
  go.argv = ["d1store.test", ...args];
  let code = null;
  const exited = new Promise((resolve) => {
    go.exit = (c) => {
      code = c;
      resolve();
    };
  });
  const instance = new WebAssembly.Instance(mod, go.importObject);
  try {
    await Promise.race([go.run(instance), exited]);
  } catch (err) {
    output += `\n${err.stack || err}\n`;
  }
  return Response.json({ code, output });
}

export default { fetch };
