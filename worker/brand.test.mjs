// The organisation's brand on the Worker: [brand] as JSON in WAXSEAL_BRAND,
// the logo as a data: URL (a Worker has no files). The pages show the name
// and the logo, which the Go program serves under its hashed name; a brand
// that [brand] would refuse is refused with the same words, on every route.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { launch, shot } from "../e2e/harness.mjs";
import { startWorker } from "./harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const svg = readFileSync(path.join(root, "brand", "testdata", "logo.svg"));
const base = {
  WAXSEAL_PUBLIC_URL: "http://localhost:8787",
  WAXSEAL_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
};

test("WAXSEAL_BRAND names the organisation and shows its logo on the Worker's pages", async () => {
  const brand = {
    name: "St Example Hospital", color: "#0f5f8a", help_phone: "+1 555 0100",
    logo: `data:image/svg+xml;base64,${svg.toString("base64")}`,
  };
  const w = await startWorker({ vars: { ...base, WAXSEAL_BRAND: JSON.stringify(brand) }, readyPath: "/", devtools: false });
  try {
    const page = await (await fetch(w.url + "/")).text();
    assert.match(page, /St Example Hospital/);
    assert.match(page, /href="tel:(\+|&#43;)15550100"/); // html/template writes + as &#43;
    const logo = /src="(\/static\/logo\.[0-9a-f]{12}\.svg)"/.exec(page)?.[1];
    assert.ok(logo, "the home page shows no logo");
    const res = await fetch(w.url + logo);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/svg+xml");
    assert.match(res.headers.get("content-security-policy"), /sandbox/);
    assert.match(await res.text(), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // As a browser shows it, at a phone's width and a desktop's: the logo
    // loads (the page's CSP allows it), nothing is wider than the phone.
    const browser = await launch();
    try {
      const page = await browser.newPage();
      for (const [width, height] of [[375, 740], [1280, 900]]) {
        await page.setViewportSize({ width, height });
        await page.goto(w.url + "/");
        assert.equal(await page.locator("img.brand-logo").evaluate((img) => img.complete && img.naturalWidth > 0), true, "the logo did not load");
        assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, `wider than ${width} px`);
        await shot(page, `worker-brand-home-${width}`);
      }
    } finally {
      await browser.close();
    }
  } finally {
    await w.stop();
  }
});

test("a WAXSEAL_BRAND that [brand] would refuse is refused, with the reason, on every route", async () => {
  const bad = { color: "#0f5f8a", logo: "logo.svg" }; // no name; a file name, not a data: URL
  const w = await startWorker({ vars: { ...base, WAXSEAL_BRAND: JSON.stringify(bad), WAXSEAL_WORKER_TEST_ROUTES: "1" }, devtools: false });
  try {
    for (const p of ["/", "/healthz"]) {
      const res = await fetch(w.url + p);
      assert.equal(res.status, 503, p);
      const body = await res.text();
      assert.match(body, /WAXSEAL_BRAND: \[brand\] name: required/, p);
      assert.match(body, /\[brand\] logo: want a data: URL/, p);
    }
  } finally {
    await w.stop();
  }
});
