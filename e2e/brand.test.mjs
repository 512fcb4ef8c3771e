// The organisation's brand in a real browser: `waxseal serve --dev` ships the
// sample brand (cmd/waxseal/brand.go). Its name, logo and help-desk phone are on
// every key server page at a phone's and a desktop's width, and on
// securedoc.html opened from disk with the network off. Screenshots go to
// build/screenshots/brand-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { root, bin, watch, shot, freePort, startWithBrowser } from "./harness.mjs";

const name = "St Example Hospital";
const phone = "+1 555 0100";
let ws, browser, stop;

before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

const sample = readFileSync(path.join(root, "docs", "examples", "lab-results.eml"));

// sealBranded seals the sample with the installation's [brand], as the gateway does.
function sealBranded(online) {
  const args = ["seal", "--keyserver", ws.base, "--token", ws.tokens.gateway_token, "--config", path.join(ws.dir, "waxseal.toml"),
    "--from", "Dr. Alice Example <alice@hospital.example>", "--to", "bob@patient.example", "--out", path.join(ws.dir, "brand-out")];
  if (online) args.push("--online");
  return JSON.parse(execFileSync(bin, args, { input: sample }).toString().trim().split("\n")[0]);
}

// assertBrand checks what a recipient must see on a page: the name, the logo
// (loaded, not broken) and the help-desk phone as a link to call, all within
// the page's width.
async function assertBrand(page, where, { logo = ".brand-logo", nameAt = ".brand-name" } = {}) {
  await page.locator(nameAt).first().waitFor();
  assert.equal((await page.locator(nameAt).first().textContent()).trim(), name, `${where}: name`);
  const img = page.locator(logo).first();
  await img.waitFor();
  const loaded = await img.evaluate((el) => el.complete && el.naturalWidth > 0);
  assert.ok(loaded, `${where}: the logo did not load`);
  const tel = page.locator('a[href="tel:+15550100"]').first();
  assert.equal((await tel.textContent()).trim(), phone, `${where}: phone`);
  assert.ok(await tel.isVisible(), `${where}: the phone is not visible`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${where}: ${overflow}px wider than the screen`);
}

for (const width of [375, 1280]) {
  test(`brand on every key server page at ${width} px`, async () => {
    const ctx = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await ctx.newPage();
    const seen = watch(page, ws.base);
    const online = sealBranded(true);
    const pages = [
      ["home", "/"],
      ["online", online.online_url],
      ["account", "/account"],
      ["sent", "/sent"],
      ["admin", "/admin"],
      ["enrol", "/admin/enrol"],
      ["not-found", "/admin/envelopes/nonsense"],
    ];
    for (const [label, url] of pages) {
      await page.goto("about:blank");
      await page.goto(url.startsWith("http") ? url : ws.base + url);
      await assertBrand(page, label);
      await shot(page, `brand-${label}-${width}`);
    }
    // The open page reached with a securedoc.html's Open button.
    const file = sealBranded(false).file;
    await page.goto(`file://${file}`);
    await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
    await page.locator("#panel-register").waitFor();
    await assertBrand(page, "open");
    await shot(page, `brand-open-${width}`);
    assert.deepEqual(seen.foreign, [], "requests left the key server");
    await ctx.close();
  });

  test(`brand in securedoc.html from file:// with the network off at ${width} px`, async () => {
    const ctx = await browser.newContext({ viewport: { width, height: 800 }, offline: true });
    const requests = [];
    ctx.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url()); });
    const page = await ctx.newPage();
    const { file } = sealBranded(false);
    await page.goto(`file://${file}`);
    await assertBrand(page, "securedoc.html", { logo: "header.org img", nameAt: "header.org span" });
    // The button wears the brand's colour.
    const bg = await page.getByRole("button", { name: "Open" }).evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(bg, "rgb(15, 95, 138)");
    await shot(page, `brand-securedoc-${width}`);
    assert.deepEqual(requests, [], "securedoc.html asked the network for something");
    await ctx.close();
  });
}

// serveDev runs `waxseal serve --dev` on dir, as the harness does, and resolves
// with the process once it is ready.
async function serveDev(dir, port) {
  const proc = spawn(bin, ["serve", "--dev", "--dir", dir, "--listen", `127.0.0.1:${port}`, "--smtp", `127.0.0.1:${await freePort()}`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const ready = new Promise((resolve, reject) => {
    proc.stdout.on("data", (d) => { out += d; if (out.includes("Press Ctrl-C")) resolve(); });
    proc.stderr.on("data", (d) => { out += d; });
    proc.on("exit", () => reject(new Error(`waxseal exited:\n${out}`)));
  });
  await ready;
  return proc;
}

test("a hostile brand: markup in the name is shown as text, a script-bearing SVG logo stops start-up", async () => {
  const cfg = path.join(ws.dir, "waxseal.toml");
  const original = readFileSync(cfg, "utf8");
  const hostile = `St Example <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`;
  await ws.stop();
  ws.stop = async () => {}; // stopped: this test runs last
  try {
    writeFileSync(cfg, original.replace('name = "St Example Hospital"', `name = '${hostile}'`));
    const port = new URL(ws.base).port;
    const proc = await serveDev(ws.dir, port);
    try {
      const ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
      const page = await ctx.newPage();
      const seen = watch(page, ws.base);
      for (const url of [ws.base + "/", ws.base + "/account"]) {
        await page.goto(url);
        assert.equal((await page.locator(".brand-name").first().textContent()).trim(), hostile);
        assert.equal(await page.evaluate(() => window.pwned), undefined, "the name's markup ran");
      }
      await shot(page, "brand-hostile-name-375");
      // The same name in securedoc.html, opened from disk.
      const { file } = JSON.parse(execFileSync(bin, ["seal", "--offline", "--config", cfg, "--keyserver", ws.base,
        "--from", "alice@hospital.example", "--to", "bob@patient.example", "--out", path.join(ws.dir, "hostile")], { input: sample }).toString().split("\n")[0]);
      await page.goto(`file://${file}`);
      assert.equal((await page.locator("header.org span").textContent()).trim(), hostile);
      assert.equal(await page.evaluate(() => window.pwned), undefined, "the name's markup ran in securedoc.html");
      assert.deepEqual(seen.dialogs, []);
      await ctx.close();
    } finally {
      await new Promise((r) => { proc.on("exit", r); proc.kill("SIGINT"); });
    }
    // A logo with a script is refused at start-up, with the reason.
    writeFileSync(path.join(ws.dir, "evil.svg"), '<svg xmlns="http://www.w3.org/2000/svg"><script>window.pwned=3</script></svg>');
    writeFileSync(cfg, original.replace('logo = "logo.svg"', 'logo = "evil.svg"'));
    const run = spawnSync(bin, ["keyserver", "--config", cfg], { timeout: 20000 });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr.toString(), /\[brand\] logo: .*evil\.svg: SVG: element <script> is not allowed in a logo/);
  } finally {
    writeFileSync(cfg, original);
  }
});
