// The recipient's journey in a real browser: open securedoc.html from disk, sign in
// or register on the key server, read the message decrypted by the Go WebAssembly
// module. Screenshots of every page go to build/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { root, watch, shot, startWithBrowser } from "./harness.mjs";

const password = "correct horse battery";
let ws, browser, stop;

before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

const sample = readFileSync(path.join(root, "docs", "examples", "lab-results.eml"));
const attachment = Buffer.from("Haemoglobin  14.1 g/dL   (13.0-17.0)\nLeukocytes   6.2 /nL    (4.0-10.0)\nPlatelets    251 /nL    (150-400)\n");

// openFile opens a securedoc.html from disk and presses Open, as a recipient does.
async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
}

// visit loads url afresh: going from /e/ID to /e/ID#k=… would otherwise only change
// the fragment of the page already shown.
async function visit(page, url) {
  await page.goto("about:blank");
  await page.goto(url);
}

// register registers as a new recipient; weak, when given, is a password tried
// first, which must be refused with the reason shown.
async function register(page, email, first = "Bob", last = "Patient", weak) {
  // Someone without an account is shown registration first.
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("#panel-signin").isVisible(), false);
  await page.getByLabel("First name").fill(first);
  await page.getByLabel("Last name").fill(last);
  const before = ws.mailCount(email);
  await page.getByRole("button", { name: "Send me a code" }).click();
  const { code } = await ws.code(email, before);
  await page.locator("#reg-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  // Once the code is accepted, only the last step is on the card.
  await page.locator("#register-choose").waitFor();
  for (const gone of [/We send a code/, /I already have an account/]) {
    assert.equal(await page.locator("#panel-register").getByText(gone).isVisible(), false, `${gone} still shown`);
  }
  if (weak) {
    await page.getByLabel("Choose a password").fill(weak.password);
    await page.getByLabel("The same password again").fill(weak.password);
    await page.getByRole("button", { name: "Finish and open the message" }).click();
    await page.locator("#status.error").getByText(weak.reason).waitFor();
    if (weak.shot) await shot(page, weak.shot);
  }
  await page.getByLabel("Choose a password").fill(password);
  await page.getByLabel("The same password again").fill(password);
  await page.getByRole("button", { name: "Finish and open the message" }).click();
}

async function signIn(page, email) {
  await page.locator("#panel-signin").waitFor();
  await page.locator("#signin-email").fill(email);
  await page.locator("#signin-password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test("open from disk, register, read, download the attachment and the original", async () => {
  const [env] = ws.seal(sample);
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const seen = watch(page, ws.base);

  await page.goto(`file://${env.file}`);
  await assert.doesNotReject(page.getByText("You have received a secure message").waitFor());
  assert.match(await page.locator("dl").innerText(), /Dr\. Alice Example/);
  assert.equal(await page.locator("input[type=password]").count(), 0, "the attachment never asks for a password");
  await shot(page, "01-securedoc-file");

  await Promise.all([page.waitForURL(/\/(open|e)\//), page.getByRole("button", { name: "Open" }).click()]);
  await page.locator("#panel-register").waitFor();
  assert.equal(new URL(page.url()).hash, "", "the key fragment is removed from the address bar");
  assert.equal(await page.locator("#signin-email").inputValue(), "bob@patient.example");
  assert.equal(await page.locator("#sum-subject").textContent(), "Your lab results");
  await shot(page, "02-open-register-first");

  await register(page, "bob@patient.example");
  await page.locator("#panel-message").waitFor();
  await shot(page, "03-message");
  assert.match(await page.locator("#msg-text").textContent(), /your blood test results from 20 November are attached/);
  assert.equal(await page.locator("#msg-subject").textContent(), "Your lab results");
  assert.match(await page.locator("#msg-from").textContent(), /alice@hospital\.example/);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "results.txt" }).click()]);
  assert.equal(download.suggestedFilename(), "results.txt");
  assert.deepEqual(readFileSync(await download.path()), attachment);

  const [original] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /Download original/ }).click()]);
  assert.deepEqual(readFileSync(await original.path()), sample, "the original .eml is the exact message");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);

  // Sign out, then open the same file again and sign in with the password.
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.locator("#panel-signin").waitFor();
  await openFile(page, env.file);
  await signIn(page, "bob@patient.example");
  await page.locator("#panel-message").waitFor();
  assert.match(await page.locator("#msg-text").textContent(), /blood test results/);

  // On a phone-sized screen.
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "04-message-phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px phone`);
  await context.close();
});

test("open online link and the refusal pages", async () => {
  const envs = ws.seal(sample, { to: ["dora@patient.example", "carol@clinic.example"], online: true });
  const [dora, carol] = envs;
  const context = await browser.newContext();
  const page = await context.newPage();

  await visit(page, dora.online_url);
  await register(page, "dora@patient.example", "Dora", "Patient");
  await page.locator("#panel-message").waitFor();
  assert.equal(new URL(page.url()).hash, "");
  assert.match(await page.locator("#msg-text").textContent(), /blood test results/);

  // Signed in, the page asks for k_srv as it starts, with the session: not
  // after the ciphertext has come and the decryptor has started.
  await visit(page, dora.online_url);
  await page.locator("#panel-message").waitFor();
  const asked = await page.evaluate(() => {
    const start = (p) => performance.getEntriesByType("resource").find((e) => new URL(e.name).pathname.endsWith(p))?.startTime;
    return { key: start("/key"), payload: start("/payload"), ready: window.waxsealTiming.decryptorReady };
  });
  assert.ok(asked.key < asked.payload && asked.key < asked.ready, `key asked at ${asked.key} ms, ciphertext at ${asked.payload}, decryptor ready at ${asked.ready}`);
  assert.match(await page.locator("#msg-text").textContent(), /blood test results/);

  // Dora is signed in; Carol's envelope is not hers.
  await visit(page, carol.online_url);
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("#refused-h").textContent(), "This message is for someone else");
  await shot(page, "05-refused-not-yours");

  // Locked with a reason, then revoked.
  ws.admin("lock", "--reason", "Sent to the wrong patient; we will call you.", dora.id);
  await visit(page, dora.online_url);
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("#refused-h").textContent(), "This message is locked");
  assert.match(await page.locator("#refused-text").textContent(), /Sent to the wrong patient; we will call you\./);
  await shot(page, "06-refused-locked");
  ws.admin("unlock", dora.id);
  ws.admin("revoke", dora.id);
  await visit(page, dora.online_url);
  await page.locator("#panel-refused").waitFor();
  // Revoking also deleted the stored ciphertext, so the online link says so.
  assert.match(await page.locator("#refused-h").textContent(), /withdrawn|not found/);
  await shot(page, "07-refused-revoked");

  // A revoked attachment (ciphertext posted from the file) shows the revoked page.
  const [eve] = ws.seal(sample, { to: ["dora@patient.example"] });
  ws.admin("revoke", eve.id);
  await openFile(page, eve.file);
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("#refused-h").textContent(), "This message was withdrawn");

  // An unknown envelope, and a link without its key.
  await visit(page, `${ws.base}/e/${"0".repeat(32)}#k=${"A".repeat(43)}`);
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("#refused-h").textContent(), "Message not found");
  // (In a new tab: this tab keeps the keys it saw, so that a reload continues.)
  const fresh = await context.newPage();
  await fresh.goto(`${ws.base}/e/${dora.id}`);
  await fresh.locator("#panel-refused").waitFor();
  assert.match(await fresh.locator("#refused-text").textContent(), /link is incomplete/);
  await context.close();
});

test("hostile HTML body runs nothing and loads nothing remote; markup in subject and names is text", async () => {
  // A "remote" server on another port that counts every request it gets.
  let remoteHits = 0;
  const remote = createServer((req, res) => { remoteHits++; res.end("x"); });
  await new Promise((r) => remote.listen(0, "127.0.0.1", r));
  const remoteURL = `http://127.0.0.1:${remote.address().port}`;

  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
  const html = `<html><head><script>console.log("XSS-HEAD"); alert(1)</script>
<link rel="stylesheet" href="${remoteURL}/style.css"></head>
<body><p id="hello">Hello <b>Bob</b></p>
<img src="x" onerror="console.log('XSS-ONERROR'); alert(2)">
<img src="${remoteURL}/tracker.png" alt="remote">
<img id="inline" src="cid:logo@hospital" alt="inline logo">
<a href="javascript:alert(3)" id="jslink">click me</a>
<iframe src="${remoteURL}/frame"></iframe>
<form action="${remoteURL}/steal"><input name=a></form>
<svg onload="alert(4)"></svg>
</body></html>`;
  const msg = [
    "From: =?utf-8?q?=3Cimg_src=3Dx_onerror=3Dalert=285=29=3E?= <eve@hospital.example>",
    "To: bob@patient.example",
    "Subject: <script>alert(6)</script> Results",
    "MIME-Version: 1.0",
    'Content-Type: multipart/related; boundary="rel"',
    "",
    "--rel",
    "Content-Type: text/html; charset=utf-8",
    "",
    html,
    "--rel",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <logo@hospital>",
    "Content-Disposition: inline; filename=logo.png",
    "",
    png.toString("base64"),
    "--rel--",
    "",
  ].join("\r\n");
  const [env] = ws.seal(Buffer.from(msg), { from: '"<b>Eve</b> <i>Evil</i>" <eve@hospital.example>', to: ["fred@patient.example"] });

  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page, ws.base);
  await page.goto(`file://${env.file}`);
  const fileText = await page.locator("main").innerText();
  assert.match(fileText, /<script>alert\(6\)<\/script> Results/, "the subject shows as text in the file");
  assert.match(fileText, /<b>Eve<\/b> <i>Evil<\/i>/, "the sender name shows as text in the file");
  assert.equal(await page.locator("main b, main i, main script").count(), 0);

  await Promise.all([page.waitForURL(/\/(open|e)\//), page.getByRole("button", { name: "Open" }).click()]);
  assert.equal(await page.locator("#sum-subject").textContent(), "<script>alert(6)</script> Results");
  await register(page, "fred@patient.example", "Fred", "Patient");
  await page.locator("#panel-message").waitFor();
  await page.waitForTimeout(500); // let anything that would load or run, try
  await shot(page, "08-hostile-html");

  assert.equal(await page.locator("#msg-subject").textContent(), "<script>alert(6)</script> Results");
  assert.match(await page.locator("#msg-from").textContent(), /<img src=x onerror=alert\(5\)>/);
  assert.equal(await page.locator("#main img, #main script").count(), 0, "no markup from the message in the page itself");
  const frame = page.frameLocator("#msg-html");
  assert.equal(await frame.locator("#hello").innerText(), "Hello Bob");
  assert.deepEqual(seen.dialogs, [], "no dialog opened");
  assert.equal(seen.console.filter((m) => m.includes("XSS")).length, 0, "no script ran");
  assert.equal(remoteHits, 0, "the remote server was never contacted");
  assert.deepEqual(seen.foreign, [], "no request left the key server");

  // The inline cid: image is shown (decoded from the message itself).
  assert.equal(await frame.locator("#inline").evaluate((img) => img.naturalWidth), 1, "the inline image loaded");
  assert.equal(await frame.locator("img[alt=remote]").evaluate((img) => img.naturalWidth), 0, "the remote image did not");
  await frame.locator("#jslink").click();
  await page.waitForTimeout(200);
  assert.deepEqual(seen.dialogs, [], "a javascript: link does nothing");
  remote.close();
  await context.close();
});

test("a banner part beside the HTML and an inline text attachment are shown; unlabelled legacy text is flagged", async () => {
  // What antivirus gateways, disclaimers and mailing lists make of a message: the
  // HTML body, a text/plain part beside it, and a text file marked inline.
  const msg = [
    "From: Clinic <clinic@hospital.example>",
    "To: gina@patient.example",
    "Cc: frontdesk, Dr. Bar <bar@hospital.example>",
    "Subject: Your prescription",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "--outer",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Your prescription is ready.",
    "--alt",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p id="body">Your prescription is <b>ready</b>.</p>',
    "--alt--",
    "--outer",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Scanned for viruses by MailGuard <no threats found>",
    "--outer",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Disposition: inline; filename=dosage.txt",
    "",
    "Take one tablet daily with water.",
    "--outer--> end",
    "",
  ].join("\r\n");
  const [env] = ws.seal(Buffer.from(msg), { to: ["gina@patient.example"] });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await openFile(page, env.file);
  // A common password is refused, and the page says why.
  await register(page, "gina@patient.example", "Gina", "Patient",
    { password: "password123", reason: "\u201cpassword\u201d is on lists of common and breached passwords", shot: "09-weak-password-1280" });
  await page.locator("#panel-message").waitFor();

  const frame = page.frameLocator("#msg-html");
  assert.equal(await frame.locator("#body").innerText(), "Your prescription is ready.");
  const shown = await frame.locator("body").innerText();
  assert.match(shown, /Scanned for viruses by MailGuard <no threats found>/, "the banner part is shown");
  assert.match(shown, /Take one tablet daily with water\./, "the inline text attachment is shown");
  assert.ok(shown.indexOf("ready") < shown.indexOf("Scanned") && shown.indexOf("Scanned") < shown.indexOf("Take one"), "in the order written");
  // The inline text file is also offered as the file it is.
  assert.equal(await page.getByRole("link", { name: "dosage.txt" }).count(), 1);
  // A mailbox without an address is its name alone, and does not swallow the next.
  assert.equal(await page.locator("#msg-cc").textContent(), "frontdesk, Dr. Bar <bar@hospital.example>");
  assert.equal(await page.locator("#msg-charset").isVisible(), false);
  // The message has no Date header: no empty Date line.
  assert.equal(await page.locator("#msg-date").isVisible(), false);
  assert.equal(await page.locator("dt.date").isVisible(), false);
  await shot(page, "09-banner-inline-text-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "09-banner-inline-text-375");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px phone`);

  // Text in Shift_JIS without a charset label cannot be shown right: the page says so.
  const sjis = Buffer.from([0x82, 0xb1, 0x82, 0xf1, 0x82, 0xc9, 0x82, 0xbf, 0x82, 0xcd]);
  const legacy = Buffer.concat([Buffer.from("From: clinic@hospital.example\r\nTo: gina@patient.example\r\nSubject: Legacy\r\n\r\n"), sjis, Buffer.from("\r\n")]);
  const [env2] = ws.seal(legacy, { to: ["gina@patient.example"] });
  await page.setViewportSize({ width: 1280, height: 900 });
  await openFile(page, env2.file);
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("#msg-charset").isVisible(), true);
  assert.match(await page.locator("#msg-charset").textContent(), /Some characters may be shown wrongly/);
  await shot(page, "10-charset-guessed-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "10-charset-guessed-375");
  await context.close();
});

test("securedoc.html of an envelope stored online goes online first with JavaScript and posts without", async () => {
  const [env] = ws.seal(sample, { to: ["hugo@patient.example"], online: true });

  // With JavaScript: Open navigates to /e/ID (the key in the fragment), which
  // fetches the ciphertext as binary; nothing is posted.
  const context = await browser.newContext();
  const page = await context.newPage();
  const posts = [];
  page.on("request", (r) => { if (r.method() === "POST" && r.url().includes("/open/")) posts.push(r.url()); });
  await page.goto(`file://${env.file}`);
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "11-securedoc-online-375");
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, "11-securedoc-online-1280");
  const payloads = [];
  page.on("response", (r) => { if (r.url().endsWith(`/api/v1/envelopes/${env.id}/payload`)) payloads.push(r.status()); });
  await Promise.all([page.waitForURL(new RegExp(`/e/${env.id}(#|$)`)), page.getByRole("button", { name: "Open" }).click()]);
  await register(page, "hugo@patient.example", "Hugo", "Patient");
  await page.locator("#panel-message").waitFor();
  assert.match(await page.locator("#msg-text").textContent(), /blood test results/);
  assert.deepEqual(posts, [], "the file posted its ciphertext though JavaScript runs");
  assert.ok(payloads.includes(200), `the online ciphertext was not fetched: ${payloads}`);
  await context.close();

  // Without JavaScript: the form posts the ciphertext to /open/ID as ever.
  const noJS = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJS.newPage();
  await plain.goto(`file://${env.file}`);
  const [answer] = await Promise.all([
    plain.waitForResponse((r) => r.request().method() === "POST" && r.url() === `${ws.base}/open/${env.id}`),
    plain.getByRole("button", { name: "Open" }).click(),
  ]);
  assert.match(answer.request().headers()["content-type"], /^multipart\/form-data/);
  assert.ok(answer.status() < 400, `the posted envelope was answered ${answer.status()}`);
  await noJS.close();
});
