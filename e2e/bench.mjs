// Browser timings for docs/BENCHMARKS.md (make bench): for 1 MB and 10 MB messages,
// the time from pressing Open on securedoc.html to the rendered message, the Go
// WebAssembly decryption alone, and, as the baseline measured in the same page,
// WebCrypto AES-256-GCM decrypting the same number of bytes.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { root, startWaxseal, launch } from "./harness.mjs";

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

const ws = await startWaxseal();
const browser = await launch();
const results = [];
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const first = ws.seal(message(1000))[0];
  // Register once; every timed open is then a signed-in recipient opening a file.
  await page.goto(`file://${first.file}`);
  await Promise.all([page.waitForURL(/\/open\//), page.getByRole("button", { name: "Open" }).click()]);
  await page.getByRole("button", { name: "Register" }).click();
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

  for (const [label, size] of [["1 MB", 1 << 20], ["10 MB", 10 << 20]]) {
    const msg = message(size);
    const env = ws.seal(msg)[0];
    const openMs = [], decryptMs = [], gcmMs = [];
    for (let i = 0; i < runs; i++) {
      await page.goto(`file://${env.file}`);
      const t0 = Date.now();
      await page.getByRole("button", { name: "Open" }).click();
      await page.locator("#panel-message").waitFor({ timeout: 60000 });
      await page.locator("#att-list a").first().waitFor();
      openMs.push(Date.now() - t0);
      const timing = await page.evaluate(() => window.waxsealTiming);
      decryptMs.push(timing.decryptMs);
      if (process.env.VERBOSE) {
        const nav = await page.evaluate(() => {
          const n = performance.getEntriesByType("navigation")[0];
          return { requestStart: n.requestStart, responseStart: n.responseStart, responseEnd: n.responseEnd, domInteractive: n.domInteractive };
        });
        console.error(label, JSON.stringify({ ...nav, ...timing }, (k, v) => (typeof v === "number" ? Math.round(v) : v)));
      }
      gcmMs.push(await page.evaluate(async (n) => {
        const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const data = new Uint8Array(n);
        for (let o = 0; o < n; o += 65536) crypto.getRandomValues(data.subarray(o, Math.min(n, o + 65536)));
        const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, data);
        const t = performance.now();
        await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct);
        return performance.now() - t;
      }, msg.length));
    }
    results.push({ label, bytes: msg.length, openMs: median(openMs), decryptMs: median(decryptMs), gcmMs: median(gcmMs), runs });
  }
  await context.close();
} finally {
  await browser.close();
  await ws.stop();
}

const lines = [
  "| message | Open click → rendered | WASM decrypt | WebCrypto AES-256-GCM (baseline) | decrypt / baseline |",
  "|---|---|---|---|---|",
  ...results.map((r) => `| ${r.label} (${r.bytes} bytes) | ${r.openMs.toFixed(0)} ms | ${r.decryptMs.toFixed(1)} ms | ${r.gcmMs.toFixed(1)} ms | ${(r.decryptMs / r.gcmMs).toFixed(1)}× |`),
];
writeFileSync(path.join(root, "build", "browser-bench.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
