// A whole installation around the Worker, for journey tests: `waxseal init`
// makes the configuration (master key, token hashes, [gateway]); the Worker
// runs under wrangler dev --local with that master key and those token hashes;
// `waxseal gateway` drains the Worker's outbox (drain_keyserver_outbox, as a
// deployment on Workers must: a Worker cannot speak SMTP) and relays the mail
// to a small SMTP sink here, where tests read the codes as a person would.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startWorker } from "./harness.mjs";
import { softPasskey } from "./softauthn.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const bin = process.env.WAXSEAL_BIN || path.join(root, "bin", "waxseal");

// startMailSink is an SMTP server on a free loopback port that keeps every
// message it is given: { port, mails: [{from, to, data}], stop() }.
export async function startMailSink() {
  const mails = [];
  const waiters = new Set();
  const server = net.createServer((sock) => {
    sock.setEncoding("latin1");
    let buf = "";
    let data = null; // the DATA lines, while reading them
    let from = "";
    let to = [];
    sock.write("220 sink.test ESMTP\r\n");
    sock.on("data", (d) => {
      buf += d;
      for (let i; (i = buf.indexOf("\r\n")) >= 0; ) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data !== null) {
          if (line === ".") {
            mails.push({ from, to, data: data.join("\r\n") + "\r\n" });
            for (const w of waiters) w();
            data = null;
            sock.write("250 kept\r\n");
          } else data.push(line.startsWith(".") ? line.slice(1) : line);
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") sock.write("250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
        else if (verb === "HELO") sock.write("250 sink.test\r\n");
        else if (verb === "MAIL") (from = /<(.*)>/.exec(line)?.[1] ?? ""), (to = []), sock.write("250 ok\r\n");
        else if (verb === "RCPT") to.push(/<(.*)>/.exec(line)?.[1] ?? ""), sock.write("250 ok\r\n");
        else if (verb === "DATA") (data = []), sock.write("354 go on\r\n");
        else if (verb === "QUIT") sock.end("221 bye\r\n");
        else sock.write("250 ok\r\n"); // RSET, NOOP
      }
    });
    sock.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    mails,
    // next resolves with the first mail (from index after on) that match
    // accepts, waiting for the gateway to deliver it; rejects after ms.
    next(match, { after = 0, ms = 30000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = mails.findIndex((m, i) => i >= after && match(m));
          if (i < 0) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve({ mail: mails[i], index: i });
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such mail within ${ms} ms (${mails.length} kept; the last, to ${JSON.stringify(mails.at(-1)?.to)}:\n${mails.at(-1)?.data.slice(0, 3000)})`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

// startInstallation: { url, worker, sink, tokens, dir, seal(), admin(), code(), stop() }.
// vars are extra Worker variables; extraArgs, logLevel and devtools go to startWorker.
export async function startInstallation({ vars = {}, extraArgs = [], logLevel, devtools } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "waxseal-worker-install-"));
  const port = await freePort();
  // localhost, not 127.0.0.1: passkeys need a domain for their relying party.
  const url = `http://localhost:${port}`;
  const init = execFileSync(bin, ["init", "--dir", dir, "--public-url", url, "--org-domain", "hospital.example"]).toString();
  const tokens = Object.fromEntries(init.split("\n").filter((l) => l.includes(": ")).map((l) => l.split(": ")));
  const cfgPath = path.join(dir, "waxseal.toml");
  let cfg = readFileSync(cfgPath, "utf8");
  const hashes = (kind) => JSON.parse(new RegExp(`^\\s*${kind} = (\\[.*\\])$`, "m").exec(cfg)[1]).join(",");
  const sink = await startMailSink();
  const gatewayPort = await freePort();
  cfg = cfg
    .replace(/^drain_keyserver_outbox = false/m, "drain_keyserver_outbox = true")
    .replace(/^listen = \["127\.0\.0\.1:10025"\]/m, `listen = ["127.0.0.1:${gatewayPort}"]`)
    .replace(/^port = 10026$/m, `port = ${sink.port}`);
  writeFileSync(cfgPath, cfg);
  let worker;
  try {
    worker = await startWorker({
      port,
      readyPath: "/",
      // The first request starts the Go program and creates the schema in D1:
      // seconds alone, a minute or more on a busy machine.
      timeoutMs: 180000,
      extraArgs,
      logLevel,
      devtools,
      vars: {
        WAXSEAL_PUBLIC_URL: url,
        WAXSEAL_MASTER_KEY: readFileSync(path.join(dir, "master.key"), "utf8").trim(),
        WAXSEAL_GATEWAY_TOKENS: hashes("gateway"),
        WAXSEAL_ADMIN_TOKENS: hashes("admin"),
        ...vars,
      },
    });
  } catch (err) {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const gateway = spawn(bin, ["gateway", "--config", cfgPath], { stdio: ["ignore", "pipe", "pipe"] });
  let gatewayLog = "";
  const keep = (d) => {
    if (gatewayLog.length < 1 << 20) gatewayLog += d;
  };
  gateway.stdout.on("data", keep);
  gateway.stderr.on("data", keep);
  const gatewayExited = new Promise((resolve) => gateway.on("exit", resolve));
  const stop = async () => {
    if (gateway.exitCode === null) {
      gateway.kill("SIGTERM");
      await gatewayExited;
    }
    await worker.stop();
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url, worker, sink, tokens, dir, stop,
    gatewayLog: () => gatewayLog,
    // seal runs the real `waxseal seal`, registering with the Worker.
    seal(message, { from = "Dr. Alice Example <alice@hospital.example>", to = ["bob@patient.example"], online = false, expires } = {}) {
      const args = ["seal", "--keyserver", url, "--token", tokens.gateway_token, "--from", from, "--out", path.join(dir, "out")];
      for (const t of to) args.push("--to", t);
      if (online) args.push("--online");
      if (expires) args.push("--expires", expires);
      const out = execFileSync(bin, args, { input: message, maxBuffer: 1 << 26 });
      return out.toString().trim().split("\n").map((l) => JSON.parse(l));
    },
    admin(...args) {
      return execFileSync(bin, ["admin", "--keyserver", url, "--token", tokens.admin_token, ...args]).toString();
    },
    // code waits for the next code mailed to email (after the index-th mail
    // kept), as its reader would: the Worker queued it, the gateway leased it
    // from the Worker's outbox and relayed it to the sink.
    async code(email, after = 0) {
      const { mail, index } = await sink.next((m) => m.to.includes(email) && /code: \d{6}/.test(m.data), { after });
      return { code: /code: (\d{6})/.exec(mail.data)[1], mail, next: index + 1 };
    },
  };
}

// request is fetch without connection reuse: wrangler dev's proxy closes an
// idle kept-alive connection after a few seconds, and Node's fetch then fails
// the next request sent on it with "other side closed" (seen after a `waxseal
// seal` of a few seconds). Resolves with { status, headers, body (Buffer) }.
export function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

// apiClient is a client of the key server's API at base that behaves as a
// browser does: the CSRF header on every request and the session cookie kept
// from each answer. call(method, route, body) resolves with { status, json,
// text } (json undefined when the body is not JSON); call.cookie() is the
// session cookie now held ("" when signed out).
export function apiClient(base) {
  let cookie = "";
  const call = async (method, route, body) => {
    const headers = { "X-Waxseal-CSRF": "1" };
    if (cookie) headers.Cookie = cookie;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await request(base + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    for (const c of res.headers["set-cookie"] || []) {
      const [pair] = c.split(";");
      if (pair.startsWith("waxseal=")) cookie = pair.endsWith("=") ? "" : pair;
    }
    const text = res.body.toString();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, text };
  };
  call.cookie = () => cookie;
  return call;
}

// registerWithPasskey registers the recipient of envelopeId through call (an
// apiClient): the emailed code (code() resolves with it), then setup finished
// with a software passkey, as a recipient on a server without passwords does.
// It throws, naming the step, on any answer but the expected one.
export async function registerWithPasskey(call, base, envelopeId, code) {
  const step = async (want, method, route, body) => {
    const r = await call(method, route, body);
    if (r.status !== want) throw new Error(`${method} ${route}: ${r.status} ${r.text}, want ${want}`);
    return r.json;
  };
  await step(202, "POST", "/api/v1/register/start", { envelope_id: envelopeId, first_name: "Bob", last_name: "Patient" });
  const verified = await step(200, "POST", "/api/v1/register/verify", { envelope_id: envelopeId, code: await code() });
  if (!verified.setup) throw new Error(`a new registration should be in setup: ${JSON.stringify(verified)}`);
  const begin = await step(200, "POST", "/api/v1/account/passkeys/begin");
  const credential = softPasskey(base).create(begin.options);
  await step(201, "POST", "/api/v1/account/passkeys/finish", { ceremony: begin.ceremony, credential, name: "test key" });
  if ((await step(200, "GET", "/api/v1/session")).setup) throw new Error("the passkey did not finish setup");
}
