// Two key server nodes on one PostgreSQL (docs/DEPLOY.md, "Several nodes"):
// two `waxseal keyserver` processes on two ports behind a small load balancer
// of this test's own, which the browser reaches at the public URL and which
// the test points at one node or the other. A recipient registers on node A
// and signs in and opens on node B (Chromium); a revoke on A is refused by B at
// once; wrong passwords split across the nodes hit one lockout; the mail both
// nodes queue is sent exactly once; and after a kill -9 of node A under a load
// of registrations, every registration A acknowledged is released by B.
//
// Needs WAXSEAL_TEST_POSTGRES (`make test-e2e` runs through
// internal/pgtest/with-postgres, which starts a throwaway cluster).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, watch, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { root, bin, freePort, launch, shot } from "./harness.mjs";

const pg = process.env.WAXSEAL_TEST_POSTGRES;
if (!pg && process.env.CI) throw new Error("WAXSEAL_TEST_POSTGRES is not set in CI: run through internal/pgtest/with-postgres");
const skip = pg ? false : "WAXSEAL_TEST_POSTGRES not set (make test-e2e starts a PostgreSQL cluster)";

const password = "correct horse battery";
const sample = readFileSync(path.join(root, "docs", "examples", "lab-results.eml"));

let dir, mailWatch, tokens, publicURL, browser, proxy, target;
const nodes = {}; // name → { port, proc, url, out }
const served = { a: 0, b: 0 };
const changed = new EventTarget(); // "change": a node printed something, or a mail arrived

// until resolves once check() (sync or async) is true, checking it now and
// again after each change: a node's log line or a file in the mail sink. Every
// awaited state is followed by one of those (the drainer logs after it deletes
// a sent mail; a node logs when it takes the lead), so no polling is needed.
// It fails after ms with what it waited for.
function until(what, check, ms = 20_000) {
  return new Promise((resolve, reject) => {
    let busy = false;
    let again = false;
    const done = (err) => {
      clearTimeout(timer);
      changed.removeEventListener("change", look);
      if (err) reject(err);
      else resolve();
    };
    const look = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        do {
          again = false;
          if (await check()) return done();
        } while (again);
      } catch (err) {
        return done(err);
      } finally {
        busy = false;
      }
    };
    const timer = setTimeout(() => done(new Error(`gave up after ${ms} ms waiting for ${what}`)), ms);
    changed.addEventListener("change", look);
    look();
  });
}

// startNode runs `waxseal keyserver` with the node's config and resolves once
// it listens.
async function startNode(name) {
  const port = await freePort();
  const proc = spawn(bin, ["keyserver", "--config", path.join(dir, `waxseal-${name}.toml`), "--listen", `127.0.0.1:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] });
  const node = { name, port, proc, url: `http://127.0.0.1:${port}`, out: "" };
  const heard = (d) => { node.out += d; changed.dispatchEvent(new Event("change")); };
  proc.stdout.on("data", heard);
  proc.stderr.on("data", heard);
  const exited = new Promise((_, reject) => proc.on("exit", (c) => reject(new Error(`node ${name} exited (${c}):\n${node.out}`))));
  exited.catch(() => {}); // after startup, an exit is the test's business
  await Promise.race([until(`node ${name} to listen`, () => node.out.includes("keyserver listening")), exited]);
  nodes[name] = node;
  return node;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), "waxseal-nodes-"));
  const schema = "e2e_" + randomBytes(6).toString("hex");
  execFileSync("psql", [pg, "-q", "-c", `CREATE SCHEMA ${schema}`]);
  const dsn = new URL(pg);
  dsn.searchParams.set("search_path", schema);
  const proxyPort = await freePort();
  publicURL = `http://localhost:${proxyPort}`;
  const out = execFileSync(bin, ["init", "--dir", dir, "--public-url", publicURL, "--org-domain", "hospital.example",
    "--store", dsn.toString()]).toString();
  tokens = Object.fromEntries(out.split("\n").filter((l) => l.includes(": ")).map((l) => l.split(": ")));
  // One configuration, one node name each; mail to one directory, polled often.
  const cfg = readFileSync(path.join(dir, "waxseal.toml"), "utf8").replace(/^interval = .*$/m, 'interval = "300ms"');
  for (const name of ["a", "b"]) writeFileSync(path.join(dir, `waxseal-${name}.toml`), cfg.replace("[store]\n", `[store]\nnode = "${name}"\n`));
  mkdirSync(path.join(dir, "mail"), { recursive: true });
  mailWatch = watch(path.join(dir, "mail"), () => changed.dispatchEvent(new Event("change")));
  await startNode("a");
  await startNode("b");
  target = "a";
  // The load balancer: every request to the node target names.
  proxy = createServer((req, res) => {
    const node = nodes[target];
    served[target]++;
    const up = request({ host: "127.0.0.1", port: node.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(proxyPort, "127.0.0.1", r));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  proxy?.close();
  mailWatch?.close();
  for (const n of Object.values(nodes)) {
    if (n.proc.exitCode === null && n.proc.signalCode === null) await new Promise((r) => { n.proc.on("exit", r); n.proc.kill("SIGINT"); });
  }
});

// seal runs `waxseal seal` through the load balancer, which runs in this
// process: so without blocking it.
function seal(to) {
  const args = ["seal", "--keyserver", publicURL, "--token", tokens.gateway_token, "--from", "Dr. Alice Example <alice@hospital.example>", "--out", path.join(dir, "out")];
  for (const t of to) args.push("--to", t);
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim().split("\n").map((l) => JSON.parse(l)));
    });
    child.stdin.end(sample);
  });
}

function mails(email) {
  return readdirSync(path.join(dir, "mail")).filter((f) => f.includes(email)).sort();
}

async function code(email, before) {
  let found;
  await until(`a code mailed to ${email}`, () => {
    const files = mails(email);
    if (files.length <= before) return false;
    found = /code: (\d{6})/.exec(readFileSync(path.join(dir, "mail", files[files.length - 1]), "utf8"))?.[1];
    return found !== undefined;
  });
  return found;
}

// api calls a node directly, as a page of the public origin would.
async function api(node, method, p, body, cookie) {
  const headers = { "Content-Type": "application/json", "X-Waxseal-CSRF": "1", Origin: publicURL };
  if (cookie) headers.Cookie = cookie;
  const r = await fetch(node.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = {};
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json };
}

async function metric(node, name) {
  const r = await fetch(node.url + "/metrics", { headers: { Authorization: `Bearer ${tokens.admin_token}` } });
  const text = await r.text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/open\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
}

test("two nodes on one PostgreSQL act as one key server", { skip }, async () => {
  const [first] = await seal(["bob@patient.example"]);
  const [second] = await seal(["bob@patient.example"]);

  // Registered on node A.
  target = "a";
  const ctxA = await browser.newContext();
  const pageA = await ctxA.newPage();
  await openFile(pageA, first.file);
  await pageA.locator("#panel-register").waitFor();
  await pageA.getByLabel("First name").fill("Bob");
  await pageA.getByLabel("Last name").fill("Patient");
  await pageA.getByRole("button", { name: "Send me a code" }).click();
  await pageA.locator("#reg-code").fill(await code("bob@patient.example", 0));
  await pageA.getByRole("button", { name: "Continue" }).click();
  await pageA.getByLabel("Choose a password").fill(password);
  await pageA.getByLabel("The same password again").fill(password);
  await pageA.getByRole("button", { name: "Finish and open the message" }).click();
  await pageA.locator("#panel-message").waitFor();
  assert.match(await pageA.locator("#msg-text").textContent(), /blood test results/);
  await ctxA.close();

  // Signed in and opened on node B, in another browser.
  target = "b";
  const servedBefore = { ...served };
  const ctxB = await browser.newContext();
  const pageB = await ctxB.newPage();
  await openFile(pageB, second.file);
  await pageB.locator("#panel-signin").waitFor();
  await pageB.locator("#signin-email").fill("bob@patient.example");
  await pageB.locator("#signin-password").fill(password);
  await pageB.getByRole("button", { name: "Sign in", exact: true }).click();
  await pageB.locator("#panel-message").waitFor();
  assert.match(await pageB.locator("#msg-text").textContent(), /blood test results/);
  await shot(pageB, "nodes-01-opened-on-b");
  assert.equal(served.a, servedBefore.a, "node A served none of B's journey");
  assert.ok(served.b > servedBefore.b);

  // Revoked on node A: node B refuses the very next open.
  execFileSync(bin, ["admin", "--keyserver", nodes.a.url, "--token", tokens.admin_token, "revoke", second.id]);
  await openFile(pageB, second.file);
  await pageB.locator("#panel-refused").waitFor();
  assert.equal(await pageB.locator("#refused-h").textContent(), "This message was withdrawn");
  const cookies = await ctxB.cookies();
  const session = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  await ctxB.close();

  // Wrong passwords from one client split across the nodes: the fifth locks
  // the address for this client, whichever node counts it.
  for (let i = 0; i < 5; i++) {
    const r = await api(i % 2 ? nodes.b : nodes.a, "POST", "/api/v1/signin/password", { email: "bob@patient.example", password: `wrong ${i}` });
    assert.equal(r.status, 401, `wrong password ${i + 1}: ${JSON.stringify(r.json)}`);
  }
  const locked = await api(nodes.a, "POST", "/api/v1/signin/password", { email: "bob@patient.example", password });
  assert.equal(locked.status, 429);
  assert.equal(locked.json.error, "account_locked");

  // Mail queued on both nodes is sent once, by whichever leads.
  const people = Array.from({ length: 6 }, (_, i) => `p${i}@patient.example`);
  const envs = await seal(people);
  for (const [i, env] of envs.entries()) {
    const r = await api(i % 2 ? nodes.b : nodes.a, "POST", "/api/v1/register/start", { envelope_id: env.id, first_name: "P", last_name: "Q" });
    assert.equal(r.status, 202, JSON.stringify(r.json));
  }
  await until("the outbox to drain", async () => people.every((p) => mails(p).length > 0) &&
    (await metric(nodes.a, "waxseal_outbox_depth")) === 0);
  for (const p of people) assert.equal(mails(p).length, 1, `${p}: ${mails(p).length} mails`);
  assert.equal(mails("bob@patient.example").length, 1, "bob's code was sent more than once");
  assert.equal((await metric(nodes.a, "waxseal_leader")) + (await metric(nodes.b, "waxseal_leader")), 1, "not exactly one leader");

  // Registrations to node A under load; kill -9 of A in the middle. Every one
  // A acknowledged is released by B, with its key.
  const acked = [];
  const refused = [];
  let failed = 0;
  const register = async () => {
    const id = randomBytes(16).toString("hex");
    const key = randomBytes(32).toString("base64url");
    try {
      const r = await fetch(`${nodes.a.url}/api/v1/envelopes`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokens.gateway_token}` },
        body: JSON.stringify({ envelopes: [{ id, sender: "alice@hospital.example", recipient: "bob@patient.example", subject: "Load", created: new Date().toISOString(), server_key: key }] }),
      });
      if (r.ok) acked.push({ id, key });
      else refused.push(`${r.status} ${await r.text()}`);
      changed.dispatchEvent(new Event("change"));
    } catch {
      failed++;
    }
  };
  const load = Array.from({ length: 8 }, async () => {
    while (nodes.a.proc.exitCode === null && nodes.a.proc.signalCode === null) await register();
  });
  await until("40 registrations acknowledged by A", () => acked.length >= 40 || refused.length > 0, 60_000);
  const exited = new Promise((r) => nodes.a.proc.on("exit", r));
  nodes.a.proc.kill("SIGKILL");
  await exited;
  await Promise.all(load);
  assert.deepEqual(refused, [], "registrations refused before the kill");
  assert.ok(acked.length >= 40);
  for (const { id, key } of acked) {
    const r = await api(nodes.b, "POST", `/api/v1/envelopes/${id}/key`, undefined, session);
    assert.equal(r.status, 200, `${id} acknowledged by A, not released by B: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.server_key, key);
  }
  // B takes the lead once A's session (and its advisory lock) is gone.
  await until("node B to take the lead after A died", async () => (await metric(nodes.b, "waxseal_leader")) === 1);
  console.log(`kill -9 under load: ${acked.length} registrations acknowledged by A, all released by B; ${failed} cut off`);
});
