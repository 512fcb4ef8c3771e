// The administrator's console in a real browser, at 1280 px and on a 375 px
// phone: enrol with a passkey, find a message and read its audit trail, act on
// it with only the actions its state allows, disable a sender and see their
// session end, verify and export the audit log, bulk-revoke a sender's messages
// after a dry run, the dashboard, and paging through 5,000 messages (seeded
// through the gateway's registration API, not the pages). Screenshots go to
// build/screenshots/admin-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { watch, shot, shots, startWithBrowser } from "./harness.mjs";

let ws, browser, stop;
before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

const message = (to, subject) => Buffer.from(
  `From: Dr. Alice Example <alice@hospital.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear patient,\r\n\r\nyour results are in.\r\n");

// passkeyDevice gives a page a platform authenticator with user verification.
async function passkeyDevice(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
}

// noWordBroken returns the first word of the cell that its layout breaks over
// two lines, or "".
async function brokenWord(td) {
  return td.evaluate((el) => {
    const range = document.createRange();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      for (const m of text.textContent.matchAll(/\S+/g)) {
        range.setStart(text, m.index);
        range.setEnd(text, m.index + m[0].length);
        if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) return m[0];
      }
    }
    return "";
  });
}

async function noOverflow(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the window`);
}

// both takes a screenshot at 1280 px and at 375 px (checking that nothing is
// wider than the phone), and returns to 1280 px.
async function both(page, name) {
  await shot(page, `${name}-1280`);
  await page.setViewportSize({ width: 375, height: 740 });
  await noOverflow(page, name);
  await shot(page, `${name}-375`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

// registerSender registers a staff member from /sent with a password and
// returns the signed-in page.
async function registerSender(email, first, last) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${ws.base}/sent`);
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByLabel("Your work email address").fill(email);
  await page.locator("#staff-first").fill(first);
  await page.locator("#staff-last").fill(last);
  const before = ws.mailCount(email);
  await page.locator("#form-staff-register").getByRole("button", { name: "Send me a code" }).click();
  const { code } = await ws.code(email, before);
  await page.locator("#staff-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "Finish registering: add a passkey or a password" }).waitFor();
  await page.locator("#new-password").fill("correct horse battery");
  await page.locator("#new-password2").fill("correct horse battery");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.locator("#panel-sent").waitFor();
  return { ctx, page };
}

test("an administrator enrols, finds a message and its trail, disables a sender, verifies the log and bulk-revokes after a dry run", async () => {
  // The dashboard's rows are UTC days and this test counts today's: begun
  // just before midnight, it sealed on one day and counted the next (CI at
  // 00:00 UTC). So it does not start in the last 90 s of a day (its run takes
  // 7–30 s); a wait for the clock, bounded by 91 s, not for the server.
  const toMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (toMidnight < 90_000) await new Promise((r) => setTimeout(r, toMidnight + 1000));
  const [erin] = ws.seal(message("erin@patient.example", "PHI: Your MRI report"), {
    to: ["erin@patient.example"], from: "Gina Sender <gina@hospital.example>" });
  ws.seal(message("fred@patient.example", "PHI: Lab results"), { to: ["fred@patient.example"], from: "Gina Sender <gina@hospital.example>" });
  // A long address and a long lock reason beside the State column.
  const long = "maximilian.alexander.montgomery-featherstonehaugh@patient-portal.example";
  const [crowded] = ws.seal(message(long, "PHI: Radiology report with findings, measurements and recommendations for follow-up"), { to: [long] });
  ws.admin("lock", "--reason", "Wrong recipient: the clinic will telephone the patient instead", crowded.id);
  const mallory = [];
  for (const n of [1, 2, 3]) {
    mallory.push(...ws.seal(message(`p${n}@patient.example`, `PHI: Mallory's note ${n}`), {
      to: [`p${n}@patient.example`], from: "Mallory Mistake <mallory@hospital.example>" }));
  }
  // The next hop refused Erin's copy, as a gateway reports it.
  const reported = await fetch(`${ws.base}/api/v1/deliveries`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ws.tokens.gateway_token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ deliveries: [
      { id: erin.id, state: "refused", detail: "550 5.2.2 <b>mailbox</b> full", at: new Date().toISOString() },
      { id: mallory[0].id, state: "queued", detail: "451 4.7.1 greylisted", at: new Date().toISOString() },
    ] }),
  });
  assert.equal(reported.status, 200);
  // The CLI filters by delivery state too (JSON lines when not on a terminal).
  const refusedLines = ws.admin("envelopes", "--state", "refused").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(refusedLines.map((e) => e.id), [erin.id]);
  assert.deepEqual(ws.admin("envelopes", "--state", "queued").trim().split("\n").map((l) => JSON.parse(l).id), [mallory[0].id]);
  const gina = await registerSender("gina@hospital.example", "Gina", "Sender");
  // Gina's Sent items, filtered to the copies their mail server refused.
  await gina.page.locator("#sent-list article.sent-msg").first().waitFor();
  await gina.page.locator("#sent-state").selectOption("refused");
  await gina.page.locator("#form-sent-filter").getByRole("button", { name: "Show" }).click();
  await gina.page.locator("#sent-list article.sent-msg", { hasText: "Lab results" }).waitFor({ state: "detached" });
  assert.deepEqual(await gina.page.locator("#sent-list article.sent-msg h2").allTextContents(), ["Your MRI report"]);
  await both(gina.page, "admin-00-sent-filter-refused");

  // Enrol.
  const invite = JSON.parse(ws.admin("invite", "root@hospital.example"));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const seen = watch(page, ws.base);
  await passkeyDevice(page);
  await page.goto(invite.link);
  await page.getByLabel("First name").fill("Rita");
  await page.getByLabel("Last name").fill("Root");
  await Promise.all([page.waitForURL(`${ws.base}/admin`), page.getByRole("button", { name: "Create your administrator passkey" }).click()]);
  await page.locator("#panel-admin").waitFor();
  await page.getByRole("link", { name: "Your MRI report" }).waitFor();
  const nav = page.getByRole("navigation", { name: "Administration" });
  assert.equal(await nav.getByRole("link").count(), 5);
  await both(page, "admin-01-messages");
  // The State column never breaks inside a word at 1280 px, nor the Sent one;
  // each row's cells start on one line.
  for (const td of await page.locator("#admin-list td.state, #admin-list td:nth-child(3)").all()) {
    assert.equal(await brokenWord(td), "", "a word of the list broke over two lines");
  }
  for (const tr of await page.locator("#admin-list tr").all()) {
    const tops = await tr.evaluate((row) => [...row.cells].map((c) => Math.round(c.getBoundingClientRect().top)));
    assert.equal(new Set(tops).size, 1, `a row's cells do not align: ${tops}`);
  }

  // The delivery filter: only the copy the next hop refused.
  await page.locator("#f-state").selectOption("refused");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#admin-list tr", { hasText: "Radiology" }).waitFor({ state: "detached" });
  assert.deepEqual(await page.locator("#admin-list td:first-child").allTextContents(), ["Your MRI report"]);
  assert.equal(await page.locator("#admin-list td.state .delivery-note").textContent(), "delivery refused");
  await both(page, "admin-01b-filter-refused");

  // Find it by subject words and state, open it, read its trail.
  await page.getByLabel("Subject or message id").fill("mri REPORT");
  await page.locator("#f-state").selectOption("active");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#admin-list tr", { hasText: "Radiology" }).waitFor({ state: "detached" });
  assert.equal(await page.locator("#admin-list tr").count(), 1);
  await page.getByRole("link", { name: "Your MRI report" }).click();
  await page.locator("#panel-envelope").waitFor();
  await page.locator("#trail-list td", { hasText: "envelope.register" }).waitFor();
  assert.equal(await page.locator("#env-recipient").textContent(), "erin@patient.example");
  // Its delivery, as text, and the report in its trail.
  assert.equal(await page.locator("#env-delivery").textContent(), "Refused by the recipient's mail server: 550 5.2.2 <b>mailbox</b> full");
  await page.locator("#trail-list td", { hasText: "envelope.delivery" }).waitFor();
  await both(page, "admin-02b-envelope-delivery");
  // Live: Lock, expiry, expire and revoke; no Unlock.
  assert.equal(await page.getByRole("button", { name: "Unlock" }).isVisible(), false);
  assert.equal(await page.getByRole("button", { name: "Lock", exact: true }).isVisible(), true);
  await page.getByLabel("Reason shown to the recipient").fill("Sent to the <b>wrong</b> patient");
  await page.getByRole("button", { name: "Lock", exact: true }).click();
  await page.getByText("Done: the message is now locked.").waitFor();
  assert.equal(await page.locator("#env-state").textContent(), "locked: Sent to the <b>wrong</b> patient");
  // Locked: no Lock button, an Unlock one; the lock is in the trail.
  assert.equal(await page.getByRole("button", { name: "Lock", exact: true }).isVisible(), false);
  assert.equal(await page.getByRole("button", { name: "Unlock" }).isVisible(), true);
  await page.locator("#trail-list td", { hasText: "envelope.lock" }).waitFor();
  // Change the expiry to the end of a day a week ahead.
  const day = new Date(Date.now() + 7 * 86400000);
  const ymd = `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;
  await page.getByLabel("Expires at the end of (empty: never)").fill(ymd);
  await page.getByRole("button", { name: "Change expiry" }).click();
  await page.getByText("The message now expires").waitFor();
  await page.locator("#trail-list td", { hasText: "envelope.set_expiry" }).waitFor();
  const shown = JSON.parse(ws.admin("show", erin.id));
  assert.equal(new Date(shown.expires).getTime(), new Date(`${ymd}T23:59:59`).getTime());
  await both(page, "admin-02-envelope");
  // Expire now: afterwards nothing can change it.
  await page.getByRole("button", { name: "Expire now" }).click();
  await page.getByRole("button", { name: "Confirm: expire now" }).click();
  await page.getByText("Done: the message is now expired.").waitFor();
  for (const name of ["Unlock", "Revoke", "Expire now"]) assert.equal(await page.getByRole("button", { name }).isVisible(), false, name);
  assert.equal(await page.locator("#form-lock").isVisible(), false);
  await page.getByText("This message can no longer be opened").waitFor();
  await page.locator("#trail-list td", { hasText: "envelope.expire" }).waitFor();
  assert.match(ws.admin("show", erin.id), /"state":"expired"/);

  // Accounts: find the sender, disable; their open session ends.
  await nav.getByRole("link", { name: "Accounts" }).click();
  await page.locator("#panel-accounts").waitFor();
  await page.getByLabel("Name or address").fill("gina");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#accounts-list tr", { hasText: "root@hospital.example" }).waitFor({ state: "detached" });
  const row = page.locator("#accounts-list tr", { hasText: "gina@hospital.example" });
  assert.match(await row.textContent(), /password/);
  for (const td of await page.locator("#accounts-list td").all()) {
    assert.equal(await brokenWord(td), "", "a word of the accounts list broke over two lines");
  }
  await both(page, "admin-03-accounts");
  await row.getByRole("button", { name: "Disable" }).click();
  await row.getByRole("button", { name: "Confirm: disable" }).click();
  await page.getByText("Disabled gina@hospital.example").waitFor();
  assert.match(await page.locator("#accounts-list tr", { hasText: "gina@hospital.example" }).textContent(), /disabled/);
  await gina.page.reload();
  await gina.page.locator("#panel-signin").waitFor();
  assert.equal(await gina.page.locator("#panel-sent").isVisible(), false);
  await gina.ctx.close();

  // The audit log: verify the chain, export it, filter it.
  await nav.getByRole("link", { name: "Audit log" }).click();
  await page.locator("#panel-audit").waitFor();
  await page.getByRole("button", { name: "Verify chain" }).click();
  await page.getByText(/^The chain is intact: \d+ records/).waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export as JSON lines" }).click()]);
  const lines = (await (await download.createReadStream()).toArray()).join("").trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(lines.some((r) => r.action === "account.disable"), "the export has the disable");
  assert.deepEqual(lines.map((r) => r.seq), lines.map((_, i) => i + 1), "the export is the whole log, in order");
  await page.getByLabel("Action").fill("account.disable");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#audit-list tr", { hasText: "envelope.register" }).first().waitFor({ state: "detached" });
  assert.equal(await page.locator("#audit-list tr").count(), 1);
  await both(page, "admin-04-audit");

  // Bulk: count Mallory's messages first, then revoke them.
  await nav.getByRole("link", { name: "Messages" }).click();
  await page.locator("#panel-bulk").waitFor();
  await page.locator("#bulk-sender").fill("mallory@hospital.example");
  await page.getByRole("button", { name: "Count (dry run)" }).click();
  await page.getByText("3 messages match; 3 would be revoked.").waitFor();
  for (const e of mallory) assert.match(ws.admin("show", e.id), /"state":"active"/, "a dry run changes nothing");
  await both(page, "admin-05-bulk-count");
  await page.getByRole("button", { name: "Revoke 3 messages" }).click();
  await page.getByRole("button", { name: "Confirm: revoke 3 messages for ever" }).click();
  await page.getByText("Revoked 3 messages.").waitFor();
  for (const e of mallory) assert.match(ws.admin("show", e.id), /"state":"revoked"/);
  const revokes = ws.admin("audit", "export").split("\n").filter((l) => l.includes('"action":"envelope.revoke"'));
  assert.equal(revokes.length, 3, "one audit record per message");

  // The dashboard counts today's messages.
  await nav.getByRole("link", { name: "Dashboard" }).click();
  await page.locator("#panel-dashboard").waitFor();
  // Days are UTC days, written as the page's language writes a date.
  const today = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(new Date());
  const todayRow = page.locator("#dash-days tr", { hasText: today });
  assert.equal(await todayRow.locator("td").nth(1).textContent(), "6", "six sealed today");
  assert.equal(await todayRow.locator("td").nth(3).textContent(), "3", "three revoked today");
  assert.equal(await todayRow.locator("td").nth(6).textContent(), "1", "one copy refused by the next hop today");
  assert.equal(await todayRow.locator("td").nth(7).textContent(), "1", "one copy queued today");
  assert.equal(await page.locator("#dash-queued").textContent(), "1 copy");
  await both(page, "admin-06-dashboard");

  // Administrators: the only one cannot remove themselves.
  await nav.getByRole("link", { name: "Administrators" }).click();
  await page.locator("#panel-admins").waitFor();
  const me = page.locator("#admins-list tr", { hasText: "root@hospital.example" });
  await me.getByRole("button", { name: "Remove" }).click();
  await me.getByRole("button", { name: "Confirm: remove yourself" }).click();
  await page.getByText("This is the last administrator: invite another before removing this one.").waitFor();
  assert.match(await page.locator("#status").getAttribute("class"), /error/);
  await both(page, "admin-07-administrators");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);
  await ctx.close();
});

// seed registers 5,000 envelopes from sender through the gateway's
// registration API, 500 a request: messages a second apart, perMessage
// recipients each, subjects "Paging 0000" up. It returns the subjects, oldest
// first.
async function seed(sender, perMessage) {
  const start = Date.now() - 5000 * 1000;
  const subjects = [];
  for (let b = 0; b < 10; b++) {
    const envelopes = [];
    for (let i = 0; i < 500; i++) {
      const e = b * 500 + i;
      const n = Math.floor(e / perMessage);
      const subject = `Paging ${String(n).padStart(4, "0")}`;
      if (e % perMessage === 0) subjects.push(subject);
      envelopes.push({ id: randomBytes(16).toString("hex"), sender, submitter: sender, message: `${sender}-${n}`,
        recipient: `r${e % 50}@patient.example`, subject, created: new Date(start + n * 1000).toISOString(),
        server_key: randomBytes(32).toString("base64url") });
    }
    const r = await fetch(`${ws.base}/api/v1/envelopes`, { method: "POST",
      headers: { Authorization: `Bearer ${ws.tokens.gateway_token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ envelopes }) });
    assert.equal(r.status, 201, await r.text());
  }
  return subjects;
}

test("paging through 5,000 messages shows each once, newest first", async () => {
  const ids = await seed("bulk@hospital.example", 1);
  const invite = JSON.parse(ws.admin("invite", "pager@hospital.example"));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await passkeyDevice(page);
  await page.goto(invite.link);
  await page.getByLabel("First name").fill("Pat");
  await page.getByLabel("Last name").fill("Pager");
  await Promise.all([page.waitForURL(`${ws.base}/admin`), page.getByRole("button", { name: "Create your administrator passkey" }).click()]);
  await page.locator("#panel-admin").waitFor();
  await page.locator("#f-sender").fill("bulk@hospital.example");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const rows = page.locator("#admin-list tr");
  await page.getByText("50 messages shown; older ones follow.").waitFor();
  for (let shown = 50; shown < 5000; shown += 50) {
    await page.getByRole("button", { name: "Show more" }).click();
    await page.getByText(`${shown + 50} messages shown`).waitFor();
  }
  assert.equal(await page.getByRole("button", { name: "Show more" }).isVisible(), false, "no more after the last");
  await page.getByText("5000 messages shown.").waitFor();
  const subjects = await rows.locator("td:first-child").allTextContents();
  assert.equal(subjects.length, 5000);
  const want = [...ids].reverse();
  assert.deepEqual(subjects, want, "each once, newest first");
  // The end of the list (a full-page picture of 5,000 rows is too large).
  await page.locator("#admin-count").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, "admin-08-paging-end-1280.png") });

  // A state filter pages through the same way.
  await page.locator("#f-state").selectOption("unopened");
  await page.getByLabel("Subject or message id").fill("paging 499");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByText("10 messages shown.").waitFor(); // 4990–4999
  assert.deepEqual(await rows.locator("td:first-child").allTextContents(), want.slice(0, 10));

  // The audit log pages on too: 5,000 registrations, 100 at a time, in order.
  await page.getByRole("navigation", { name: "Administration" }).getByRole("link", { name: "Audit log" }).click();
  await page.getByLabel("Action").fill("envelope.register");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const records = page.locator("#audit-list tr");
  await records.nth(99).waitFor();
  await page.getByRole("button", { name: "Show more" }).click();
  await records.nth(199).waitFor();
  const seqs = (await records.locator("td:first-child").allTextContents()).map(Number);
  assert.equal(seqs.length, 200);
  assert.ok(seqs.every((n, i) => i === 0 || n > seqs[i - 1]), "oldest first, each once");
  await ctx.close();
});

test("a sender pages through 5,000 envelopes (2,500 messages to two) in Sent items, each message once and whole", async () => {
  const { ctx, page } = await registerSender("pat@hospital.example", "Pat", "Sender");
  const subjects = await seed("pat@hospital.example", 2);
  await page.reload();
  const entries = page.locator("#sent-list article.sent-msg");
  await entries.nth(24).waitFor();
  const more = page.getByRole("button", { name: "Show older messages" });
  for (let shown = await entries.count(); shown < 2500; shown = await entries.count()) {
    await more.click();
    await entries.nth(shown).waitFor();
  }
  await more.waitFor({ state: "hidden" });
  assert.deepEqual(await entries.locator("h2").allTextContents(), [...subjects].reverse(), "each message once, newest first");
  assert.equal(await page.locator("#sent-list li.sent-rcpt").count(), 5000, "every envelope, no message split");
  await page.setViewportSize({ width: 375, height: 740 });
  await noOverflow(page, "5,000 sent items");
  await page.setViewportSize({ width: 1280, height: 900 });
  await ctx.close();
});
