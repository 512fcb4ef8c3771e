// Browser timings for docs/BENCHMARKS.md (make bench): for 1 MB and 10 MB messages,
// the time from pressing Open on securedoc.html to the rendered message, the Go
// WebAssembly decryption alone, and, as the baselines measured in the same run,
// WebCrypto AES-256-GCM decrypting the same number of bytes and the open with the
// posted-envelope hold off.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { root, startWaxseal, launch, launchProfile } from "./harness.mjs";

const runs = Number(process.env.RUNS || 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function message(size) {
  const body = randomBytes(Math.floor(size * 0.74)).toString("base64").replace(/.{76}/g, "$&\r\n");
  return Buffer.from([
    "From: Dr. Alice Example <alice@hospital.example>", "To: bob@patient.example", "Subject: Imaging results",
    "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"', "",
    "--b", "Content-Type: text/plain; charset=utf-8", "", "The scan is attached.", "",
    "--b", "Content-Type: application/octet-stream; name=scan.bin", "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment; filename=scan.bin", "", body, "--b--", ""].join("\r\n"));
}

// Two key servers: the default, which holds a posted envelope for its page to
// fetch as binary, and one with the hold off, whose page carries the posted
// base64 fields itself (the baseline for that change). Runs alternate between
// them, so load from elsewhere on the machine falls on both alike.
const variants = [{ name: "held" }, { name: "echoed", limits: { posted_hold_mb: -1 } }];
const browser = await launch();
const results = [];
const ready = []; // per run: [first open, second open]
try {
  for (const v of variants) v.ws = await startWaxseal({ limits: v.limits });
  for (const v of variants) {
    v.context = await browser.newContext();
    v.page = await v.context.newPage();
    await register(v.ws, v.page);
  }
  for (const [label, size] of [["1 MB", 1 << 20], ["10 MB", 10 << 20]]) {
    const msg = message(size);
    for (const v of variants) v.file = v.ws.seal(msg)[0].file;
    // A file whose ciphertext is also stored online: its script goes to /e/ID,
    // which fetches the ciphertext as binary (FORMAT.md §7.5).
    const onlineFile = variants[0].ws.seal(msg, { online: true })[0].file;
    const m = Object.fromEntries([...variants.map((v) => v.name), "online"].map((n) => [n, { openMs: [], decryptMs: [] }]));
    const gcmMs = [];
    for (let i = 0; i < runs; i++) {
      for (const v of variants) {
        const { openMs, timing } = await openOnce(v.page, v.file);
        m[v.name].openMs.push(openMs);
        m[v.name].decryptMs.push(timing.decryptMs);
        if (process.env.VERBOSE) console.error(label, v.name, JSON.stringify(timing, (k, x) => (typeof x === "number" ? Math.round(x) : x)));
      }
      {
        const { openMs, timing } = await openOnce(variants[0].page, onlineFile);
        m.online.openMs.push(openMs);
        m.online.decryptMs.push(timing.decryptMs);
        if (process.env.VERBOSE) console.error(label, "online", JSON.stringify(timing, (k, x) => (typeof x === "number" ? Math.round(x) : x)));
      }
      gcmMs.push(await gcm(variants[0].page, msg.length));
    }
    // The floor (see floor) for the same message.
    const online = variants[0].ws.seal(msg, { online: true })[0];
    const floorPage = await variants[0].context.newPage();
    const floorMs = [];
    for (let i = 0; i < runs; i++) floorMs.push(await floor(floorPage, variants[0].file, variants[0].ws.base, online.id));
    await floorPage.close();
    results.push({ label, bytes: msg.length, held: median(m.held.openMs), echoed: median(m.echoed.openMs), online: median(m.online.openMs),
      decryptMs: median(m.held.decryptMs), gcmMs: median(gcmMs), floorMs: median(floorMs), runs });
  }
  for (let i = 0; i < runs; i++) ready.push(await decryptorReady(variants[0].ws));
} finally {
  await browser.close();
  for (const v of variants) if (v.ws) await v.ws.stop();
}

// register signs Bob up once on a key server; every timed open is then a
// signed-in recipient opening a file.
async function register(ws, page) {
  const first = ws.seal(message(1000))[0];
  await page.goto(`file://${first.file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\//), page.getByRole("button", { name: "Open" }).click()]);
  await page.locator("#panel-register").waitFor(); // no account yet: registration first
  await page.getByLabel("First name").fill("Bob");
  await page.getByLabel("Last name").fill("Patient");
  const before = ws.mailCount("bob@patient.example");
  await page.getByRole("button", { name: "Send me a code" }).click();
  await page.locator("#reg-code").fill((await ws.code("bob@patient.example", before)).code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByLabel("Choose a password").fill("correct horse battery");
  await page.getByLabel("The same password again").fill("correct horse battery");
  await page.getByRole("button", { name: "Finish and open the message" }).click();
  await page.locator("#panel-message").waitFor();
}

// openOnce presses Open on a securedoc.html and waits for the rendered message.
// The timing marks are milliseconds from the navigation the click started.
async function openOnce(page, file) {
  await page.goto(`file://${file}`);
  const t0 = Date.now();
  await page.getByRole("button", { name: "Open" }).click();
  await page.locator("#panel-message").waitFor({ timeout: 60000 });
  await page.locator("#att-list a").first().waitFor();
  const openMs = Date.now() - t0;
  const timing = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { requestStart: n.requestStart, responseEnd: n.responseEnd, domInteractive: n.domInteractive, ...window.waxsealTiming };
  });
  return { openMs, timing };
}

// floor is the least an open in a browser can cost: from the file's page, a
// navigation to a page of the key server that fetches envelope id's ciphertext
// as binary and decrypts as many bytes with WebCrypto AES-256-GCM (key and
// ciphertext made beforehand, not counted). Milliseconds from the navigation's
// start to the decrypted bytes.
async function floor(page, file, base, id) {
  await page.goto(`file://${file}`);
  await page.goto(`${base}/`);
  return page.evaluate(async (id) => {
    const get = async () => (await fetch(`/api/v1/envelopes/${id}/payload`, { cache: "no-store" })).arrayBuffer();
    const p0 = performance.now();
    const n = (await get()).byteLength;
    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new Uint8Array(n));
    const prep = performance.now() - p0;
    await get();
    await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct);
    return performance.now() - prep;
  }, id);
}

// decryptorReady opens an "open online" page twice in a fresh browser with a
// profile on disk (a patient's browser keeps one; an off-the-record context
// caches differently) and returns, for each, the milliseconds from navigation
// start and from the page's script start to "decryptor ready".
async function decryptorReady(ws) {
  const env = ws.seal(message(1000), { online: true })[0];
  const context = await launchProfile();
  const page = await context.newPage();
  const out = [];
  for (let i = 0; i < 2; i++) {
    await page.goto("about:blank");
    await page.goto(env.online_url);
    await page.waitForFunction(() => window.waxsealTiming && window.waxsealTiming.decryptorReady);
    const t = await page.evaluate(() => ({ ...window.waxsealTiming,
      transferSize: performance.getEntriesByType("resource").find((e) => e.name.endsWith(".wasm"))?.transferSize }));
    out.push({ fromNavigation: t.decryptorReady, fromScript: t.decryptorReady - t.script, transferSize: t.transferSize });
    if (process.env.VERBOSE) console.error("decryptor", i ? "second" : "first", JSON.stringify(t, (k, x) => (typeof x === "number" ? Math.round(x) : x)));
  }
  await context.close();
  return out;
}

// gcm is the baseline: WebCrypto AES-256-GCM decrypting n bytes in the page.
function gcm(page, n) {
  return page.evaluate(async (n) => {
    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = new Uint8Array(n);
    for (let o = 0; o < n; o += 65536) crypto.getRandomValues(data.subarray(o, Math.min(n, o + 65536)));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, data);
    const t = performance.now();
    await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct);
    return performance.now() - t;
  }, n);
}

const lines = [
  "| message | Open click → rendered (held, default) | … with the fields echoed in the page (baseline) | held / echoed | WASM decrypt | WebCrypto AES-256-GCM (baseline) | decrypt / baseline |",
  "|---|---|---|---|---|---|---|",
  ...results.map((r) => `| ${r.label} (${r.bytes} bytes) | ${r.held.toFixed(0)} ms | ${r.echoed.toFixed(0)} ms | ${(r.held / r.echoed).toFixed(2)}× | ${r.decryptMs.toFixed(1)} ms | ${r.gcmMs.toFixed(1)} ms | ${(r.decryptMs / r.gcmMs).toFixed(1)}× |`),
];
lines.push("", "| message | Open click → rendered: posted (held) | … online first (§7.5) | floor: fetch as binary + WebCrypto AES-GCM | posted / floor | online first / floor |", "|---|---|---|---|---|---|",
  ...results.map((r) => `| ${r.label} | ${r.held.toFixed(0)} ms | ${r.online.toFixed(0)} ms | ${r.floorMs.toFixed(0)} ms | ${(r.held / r.floorMs).toFixed(1)}× | ${(r.online / r.floorMs).toFixed(1)}× |`));
const nav = [0, 1].map((i) => median(ready.map((r) => r[i].fromNavigation)));
const script = [0, 1].map((i) => median(ready.map((r) => r[i].fromScript)));
lines.push("", "| decryptor ready | first open | second open | second / first |", "|---|---|---|---|",
  `| from navigation start | ${nav[0].toFixed(0)} ms | ${nav[1].toFixed(0)} ms | ${(nav[1] / nav[0] * 100).toFixed(0)}% |`,
  `| from the page's script start | ${script[0].toFixed(0)} ms | ${script[1].toFixed(0)} ms | ${(script[1] / script[0] * 100).toFixed(0)}% |`);
writeFileSync(path.join(root, "build", "browser-bench.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
