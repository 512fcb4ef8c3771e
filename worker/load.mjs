// Load generation for the Worker's scripts (bench.mjs, profile.mjs): a
// recipient ready to release keys, and closed-loop clients that release them.
import http from "node:http";
import { apiClient, registerWithPasskey } from "./install.mjs";

// recipient seals envelopes messages to Bob on a server, registers him with
// the code mailed for the first (code(email) resolves with it), finishes his
// setup with a passkey and returns { ids, cookie }.
export async function recipient(base, seal, code, envelopes = 10) {
  const ids = [];
  for (let i = 0; i < envelopes; i++) {
    const msg = `From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: Results ${i}\r\n\r\nHello\r\n`;
    ids.push(seal(msg)[0].id);
  }
  const call = apiClient(base);
  await registerWithPasskey(call, base, ids[0], code);
  return { ids, cookie: call.cookie() };
}

// post sends one request on agent and resolves with { status, body }.
export function post(agent, url, headers) {
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

// release is one key release on target; it throws unless the key came back.
export async function release(target, agent, i) {
  const res = await post(agent, `${target.api}/api/v1/envelopes/${target.ids[i % target.ids.length]}/key`, {
    Cookie: target.cookie,
    "X-Waxseal-CSRF": "1",
  });
  if (res.status !== 200 || !JSON.parse(res.body).server_key) throw new Error(`${target.name} release: ${res.status} ${res.body}`);
}

// load runs op(agent, i) from clients concurrent clients, each waiting for
// its answer before the next (a closed loop), until n ops or seconds have
// passed; resolves with { n, rps, p50, p99, mean } (times in ms).
// Kept-alive connections, fresh for each measurement: wrangler dev's proxy
// closes idle ones after a few seconds.
export async function load(clients, n, seconds, op) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const times = [];
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < n && performance.now() < deadline) {
          const i = next++;
          const t = performance.now();
          await op(agent, i);
          times.push(performance.now() - t);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const secs = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { n: times.length, rps: times.length / secs, p50: q(0.5), p99: q(0.99), mean: times.reduce((a, x) => a + x, 0) / times.length };
}

// A GET with no store behind it, for where a release's time goes.
export async function get(agent, url) {
  const res = await new Promise((resolve, reject) => {
    http.get(url, { agent }, (r) => {
      r.resume();
      r.on("end", () => resolve(r));
      r.on("error", reject);
    }).on("error", reject);
  });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
}
