// The recipient's journey as a first-timer meets it, on a 375 px phone and a
// 1280 px desktop: registration first without an account, reloads and app
// switches that continue, refusals before any effort, and the message page's
// dates, expiry, subject and print view. Screenshots go to build/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, shot, startWithBrowser } from "./harness.mjs";

const password = "correct horse battery";
const sizes = [{ width: 375, height: 740 }, { width: 1280, height: 900 }];
// One date format everywhere: "4 December 2026, 15:04 UTC".
const dateFormat = /^\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} \S+$/;
let ws, browser, stop;

before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

const sample = readFileSync(path.join(root, "docs", "examples", "lab-results.eml"));

async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
}

async function visit(page, url) {
  await page.goto("about:blank");
  await page.goto(url);
}

async function sendRegistrationCode(page, email) {
  await page.getByLabel("First name").fill("Pat");
  await page.getByLabel("Last name").fill("Ient");
  const before = ws.mailCount(email);
  await page.getByRole("button", { name: "Send me a code" }).click();
  await page.locator("#form-register-code").waitFor();
  return (await ws.code(email, before)).code;
}

async function finishRegistration(page, code) {
  await page.locator("#reg-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByLabel("Choose a password").fill(password);
  await page.getByLabel("The same password again").fill(password);
  await page.getByRole("button", { name: "Finish and open the message" }).click();
  await page.locator("#panel-message").waitFor();
}

for (const size of sizes) {
  const w = size.width;
  test(`first visit at ${w} px: registration first without an account, sign-in first with one`, async () => {
    const email = `first${w}@patient.example`;
    // As the gateway seals it: the envelope's subject without its trigger.
    const [env] = ws.seal(sample, { to: [email], subject: "Your lab results" });
    const context = await browser.newContext({ viewport: size });
    const page = await context.newPage();
    await openFile(page, env.file);
    await page.locator("#panel-register").waitFor();
    assert.equal(await page.locator("#panel-signin").isVisible(), false, "no sign-in form for someone without an account");
    assert.match(await page.locator("#register-first").textContent(), /no account here yet/);
    assert.match(await page.locator("#sum-expires").textContent(), dateFormat);
    // The sample's sender is "Dr. Alice Example": quoted in the header, not on the page.
    assert.equal(await page.locator("#sum-from").textContent(), "Dr. Alice Example <alice@hospital.example>");
    await shot(page, `j01-first-visit-register-${w}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);

    const code = await sendRegistrationCode(page, email);
    await page.locator("#reg-code").fill(code);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#register-choose").waitFor();
    assert.equal(await page.getByText("We send a code").isVisible(), false);
    assert.equal(await page.getByRole("button", { name: "I already have an account" }).isVisible(), false);
    await shot(page, `j02-register-last-step-${w}`);
    await page.getByLabel("Choose a password").fill(password);
    await page.getByLabel("The same password again").fill(password);
    await page.getByRole("button", { name: "Finish and open the message" }).click();
    await page.locator("#panel-message").waitFor();

    // The message page: the subject as the wrapper mail has it, dates in one
    // format with their time zone, and when it expires.
    assert.equal(await page.locator("#msg-subject").textContent(), "Your lab results");
    assert.match(await page.locator("#msg-date").textContent(), dateFormat);
    assert.ok(await page.locator("#msg-date").isVisible());
    assert.match(await page.locator("#msg-expires").textContent(), dateFormat);
    await shot(page, `j03-message-${w}`);
    // The print view lists the attachments.
    await page.emulateMedia({ media: "print" });
    assert.equal(await page.locator("#msg-attachments").isVisible(), true, "attachments in the print view");
    assert.equal(await page.getByRole("button", { name: "Print" }).isVisible(), false);
    await shot(page, `j04-print-${w}`);
    await page.emulateMedia({ media: "screen" });
    await context.close();

    // Next time, in another browser: sign-in first, registration the clear second button.
    const [env2] = ws.seal(sample, { to: [email], subject: "More results" });
    const ctx2 = await browser.newContext({ viewport: size });
    const p2 = await ctx2.newPage();
    await openFile(p2, env2.file);
    await p2.locator("#panel-signin").waitFor();
    assert.equal(await p2.locator("#panel-register").isVisible(), false);
    const second = p2.getByRole("button", { name: "First time here? Register" });
    assert.equal(await second.isVisible(), true);
    await shot(p2, `j05-returning-signin-${w}`);
    await p2.locator("#signin-password").fill(password);
    await p2.getByRole("button", { name: "Sign in", exact: true }).click();
    await p2.locator("#panel-message").waitFor();
    await ctx2.close();
  });
}

test("reload, back and forward and a return from the mail app continue; k_env only in the tab's sessionStorage", async () => {
  const email = "reload@patient.example";
  const [env] = ws.seal(sample, { to: [email] });
  const context = await browser.newContext({ viewport: sizes[0] });
  const page = await context.newPage();
  const kEnv = /#k=([A-Za-z0-9_-]{43})/.exec(readFileSync(env.file, "utf8"))[1];
  const sent = [];
  page.on("request", (r) => sent.push(`${r.url()} ${r.postData() || ""}`));

  await openFile(page, env.file);
  await page.locator("#panel-register").waitFor();
  const code = await sendRegistrationCode(page, email);
  // The phone reloads the tab while the code is read in the mail app.
  await page.reload();
  await page.locator("#form-register-code").waitFor();
  assert.equal(await page.locator("#panel-refused").isVisible(), false);
  assert.match(await page.locator("#status").textContent(), /We sent a code to/);
  await shot(page, "j06-reloaded-code-step-375");
  await finishRegistration(page, code);

  // F5 on the message, and back and forward.
  await page.reload();
  await page.locator("#panel-message").waitFor();
  await page.goto("about:blank");
  await page.goBack();
  await page.locator("#panel-message").waitFor();
  assert.match(await page.locator("#msg-text").textContent(), /blood test results/);

  const storage = await page.evaluate(() => ({ session: { ...sessionStorage }, local: localStorage.length }));
  assert.equal(storage.local, 0, "nothing in localStorage");
  assert.equal(JSON.parse(storage.session[`waxseal:${env.id}`]).k, kEnv);
  for (const c of await context.cookies()) assert.ok(!c.value.includes(kEnv), `k_env in cookie ${c.name}`);
  for (const r of sent) assert.ok(!r.startsWith(ws.base) || !r.includes(kEnv), `k_env sent to the server: ${r.slice(0, 80)}`);

  // A returning recipient asks for a sign-in code, and the tab reloads while
  // the code is read in the mail app.
  const ctxCode = await browser.newContext({ viewport: sizes[0] });
  const pc = await ctxCode.newPage();
  await openFile(pc, env.file);
  await pc.locator("#panel-signin").waitFor();
  await pc.getByRole("button", { name: "Email me a sign-in code instead" }).click();
  const before = ws.mailCount(email);
  await pc.getByRole("button", { name: "Email me a code" }).click();
  await pc.locator("#form-code-verify").waitFor();
  const signInCode = (await ws.code(email, before)).code;
  await pc.reload();
  await pc.locator("#form-code-verify").waitFor();
  await shot(pc, "j06-reloaded-signin-code-375");
  await pc.locator("#code-code").fill(signInCode);
  await pc.locator("#form-code-verify").getByRole("button", { name: "Sign in" }).click();
  await pc.locator("#panel-message").waitFor();
  await ctxCode.close();

  // An "open online" link reloads too.
  const [online] = ws.seal(sample, { to: ["other@patient.example"], online: true });
  const p2 = await context.newPage();
  await visit(p2, online.online_url);
  await p2.locator("#panel-refused").waitFor(); // signed in as someone else
  await p2.reload();
  await p2.locator("#panel-refused").waitFor();
  assert.equal(await p2.locator("#refused-h").textContent(), "This message is for someone else");
  await shot(p2, "j07-not-yours-after-reload-375");
  await context.close();

  // A tab that never saw the key still says the link is incomplete.
  const ctx3 = await browser.newContext();
  const p3 = await ctx3.newPage();
  await p3.goto(`${ws.base}/e/${online.id}`);
  await p3.locator("#panel-refused").waitFor();
  assert.match(await p3.locator("#refused-text").textContent(), /link is incomplete/);
  await ctx3.close();
});

for (const size of sizes) {
  const w = size.width;
  test(`refusals before effort at ${w} px: locked with its reason, withdrawn, expired`, async () => {
    const email = `refused${w}@patient.example`;
    const [[locked], [revoked], [expired]] = [1, 2, 3].map(() => ws.seal(sample, { to: [email], online: true }));
    ws.admin("lock", "--reason", "Sent to the wrong patient; we will call you.", locked.id);
    ws.admin("revoke", revoked.id);
    ws.admin("expire", expired.id);
    const context = await browser.newContext({ viewport: size });
    const page = await context.newPage();
    const cases = [
      [locked, "This message is locked", /Sent to the wrong patient; we will call you\./],
      [revoked, "This message was withdrawn", /withdrawn/],
      [expired, "This message has expired", /expired/],
    ];
    for (const [env, heading, text] of cases) {
      await visit(page, env.online_url);
      await page.locator("#panel-refused").waitFor();
      assert.equal(await page.locator("#refused-h").textContent(), heading);
      assert.match(await page.locator("#refused-text").textContent(), text);
      assert.equal(await page.locator("#panel-register").isVisible(), false, "no registration for a message that cannot open");
      assert.equal(await page.locator("#panel-signin").isVisible(), false, "no sign-in for a message that cannot open");
      await shot(page, `j08-refused-${heading.split(" ").pop()}-${w}`);
    }
    // The same from the attachment (posted).
    const [filed] = ws.seal(sample, { to: [email] });
    ws.admin("lock", "--reason", "Check with reception.", filed.id);
    await openFile(page, filed.file);
    await page.locator("#panel-refused").waitFor();
    assert.match(await page.locator("#refused-text").textContent(), /Check with reception\./);
    assert.equal(ws.mailCount(email), 0, "nobody was asked to register");
    await context.close();
  });
}

test("text follows the browser's font size; the phone's status line has room", async () => {
  const [env] = ws.seal(sample, { to: ["font@patient.example"] });
  const context = await browser.newContext({ viewport: sizes[0] });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Page.setFontSizes", { fontSizes: { standard: 24 } });
  await openFile(page, env.file);
  await page.locator("#panel-register").waitFor();
  const px = (sel, prop) => page.locator(sel).evaluate((el, p) => parseFloat(getComputedStyle(el)[p]), prop);
  assert.equal(await px("body", "fontSize"), 24, "body text follows the browser's 24 px");
  await page.getByRole("button", { name: "Send me a code" }).click(); // empty names: an error in the status line
  await page.locator("#status.error").waitFor();
  assert.ok(await px("#status", "paddingLeft") >= 8, "the status line does not touch the screen's edge");
  await shot(page, "j09-large-font-375");
  await context.close();
});
