// The organisation's brand in a real browser: `waxseal serve --dev` ships the
// sample brand (cmd/waxseal/brand.go). Its name, logo and help-desk phone are on
// every key server page at a phone's and a desktop's width, and on
// securedoc.html opened from disk with the network off. Screenshots go to
// build/screenshots/brand-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, bin, startWaxseal, launch, watch, shot } from "./harness.mjs";

const name = "St Example Hospital";
const phone = "+1 555 0100";
let ws, browser;

before(async () => {
  ws = await startWaxseal();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await ws?.stop();
});

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
    await Promise.all([page.waitForURL(/\/open\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
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
