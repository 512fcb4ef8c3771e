// Passkeys in a real browser: Chromium with a CDP virtual authenticator (one per
// page: a "device"), against `waxseal serve --dev` on http://localhost (WebAuthn
// needs a domain, so never 127.0.0.1). Screenshots go to build/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWaxseal, watch, shot, startWithBrowser } from "./harness.mjs";

let ws, browser, stop;
// The organisation registers attachment names for Sent items (off by default).
before(async () => ({ server: ws, browser, stop } = await startWithBrowser(() => startWaxseal({ settings: { sent_attachment_names: true } }))));
after(() => stop?.());

const body = "Dear Bob,\n\nyour MRI on 19 November showed nothing of concern.\n\nDr. Alice Example\n";
const message = (to, subject = "PHI: Your MRI report") => Buffer.from(
  `From: Dr. Alice Example <alice@hospital.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body.replace(/\n/g, "\r\n")}`);

// device is a passkey authenticator for a page: a CDP virtual authenticator with
// user verification. Chromium's virtual environment answers a conditional
// (autofill) request by itself as soon as it holds a matching passkey, where a
// person would pick it from the autofill list; so to press "Sign in with a
// passkey" as a person would, a test unplugs the device (the page's requests
// then go to the empty real platform and wait) and plugs it back in, with the
// same passkeys, just before.
// withAttachment is a message with a text body and a PDF attachment.
const withAttachment = (to, subject) => Buffer.from(
  `From: Gina Sender <gina@hospital.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour results are attached.\r\n" +
  "--b1\r\nContent-Type: application/pdf; name=results.pdf\r\nContent-Disposition: attachment; filename=results.pdf\r\n" +
  `Content-Transfer-Encoding: base64\r\n\r\n${Buffer.alloc(30000, 7).toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n--b1--\r\n`);

// hostileName is an attachment name that is markup: Sent items must show it as text.
const hostileName = '<img src=x onerror="window.xss=1">.pdf';
// withNames is a message with two attachments, one of them named hostileName
// (RFC 2231 encoded, as mail clients write names with quotes).
const withNames = (to, subject) => Buffer.from(
  `From: Gina Sender <gina@hospital.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour scans are attached.\r\n" +
  "--b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=scan-2026-11-19.png\r\n" +
  "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
  `--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''${encodeURIComponent(hostileName).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}\r\n` +
  "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n");

async function device(page) {
  // Count the page's pending conditional (autofill) requests, so that a test
  // can plug the device back in only once one waits on the empty platform:
  // plugged in before the page asks, the device would answer it by itself and
  // sign in before the button is pressed.
  await page.addInitScript(() => {
    if (!navigator.credentials) return;
    const get = navigator.credentials.get.bind(navigator.credentials);
    window.__autofillWaiting = 0;
    navigator.credentials.get = (options) => {
      const p = get(options);
      if (options && options.mediation === "conditional") {
        window.__autofillWaiting++;
        const settled = () => { window.__autofillWaiting--; };
        p.then(settled, settled);
      }
      return p;
    };
  });
  const cdp = await page.context().newCDPSession(page);
  let id = null;
  let saved = [];
  const dev = {
    // plugBehindAutofill plugs the device in once the page's autofill request
    // waits, so that pressing "Sign in with a passkey" is what signs in.
    async plugBehindAutofill() {
      await page.waitForFunction(() => window.__autofillWaiting > 0);
      await dev.plug();
    },
    async plug() {
      await cdp.send("WebAuthn.enable");
      ({ authenticatorId: id } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      }));
      for (const credential of saved) await cdp.send("WebAuthn.addCredential", { authenticatorId: id, credential });
    },
    async unplug() {
      saved = await dev.credentials();
      await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: id });
      await cdp.send("WebAuthn.disable");
      id = null;
    },
    async credentials() { return id ? (await cdp.send("WebAuthn.getCredentials", { authenticatorId: id })).credentials : saved; },
  };
  await dev.plug();
  return dev;
}

async function until(check, what) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
  await page.locator("#panel-signin:visible, #panel-register:visible, #panel-message:visible, #panel-refused:visible").first().waitFor();
}

async function mailedCode(email, action) {
  const before = ws.mailCount(email);
  await action();
  return (await ws.code(email, before)).code;
}

async function signInByCode(page, email) {
  await page.getByRole("button", { name: "Email me a sign-in code instead" }).click();
  await page.locator("#code-email").fill(email);
  const code = await mailedCode(email, () => page.getByRole("button", { name: "Email me a code" }).click());
  await page.locator("#code-code").fill(code);
  await page.locator("#form-code-verify").getByRole("button", { name: "Sign in" }).click();
}

async function readBody(page) {
  await page.locator("#panel-message").waitFor();
  return page.locator("#msg-text").textContent();
}

test("register with a passkey, read, sign out, sign in with the passkey; a second device uses a code and adds its own", async () => {
  const [env] = ws.seal(message("bob@patient.example"), { to: ["bob@patient.example"] });
  const ctxA = await browser.newContext();
  const page = await ctxA.newPage();
  const seen = watch(page, ws.base);
  const laptop = await device(page);

  await openFile(page, env.file);
  assert.equal(await page.locator("#signin-email").getAttribute("autocomplete"), "username webauthn");
  // Bob has no account yet: registration comes first.
  await page.locator("#panel-register").waitFor();
  await page.getByLabel("First name").fill("Bob");
  await page.getByLabel("Last name").fill("Patient");
  const code = await mailedCode("bob@patient.example", () => page.getByRole("button", { name: "Send me a code" }).click());
  await page.locator("#reg-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.locator("#register-choose").waitFor();
  assert.equal(await page.getByText("Recommended").isVisible(), true);
  assert.equal(await page.getByLabel("Choose a password").isVisible(), true, "a password is the alternative");
  await shot(page, "passkey-01-register-choice");
  await page.getByRole("button", { name: "Create a passkey and open the message" }).click();
  assert.equal(await readBody(page), body);
  const made = await laptop.credentials();
  assert.equal(made.length, 1);
  assert.equal(made[0].isResidentCredential, true, "a discoverable credential");
  assert.equal(Buffer.from(made[0].userHandle, "base64").length, 32);
  assert.ok(!Buffer.from(made[0].userHandle, "base64").toString("latin1").includes("bob"), "the user handle is not the email");

  // Sign out; open the file again and sign in with the passkey, in the page.
  await laptop.unplug();
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.locator("#panel-signin").waitFor();
  assert.equal(await page.locator("#who").textContent(), "");
  await openFile(page, env.file);
  await page.locator("#panel-signin").waitFor();
  await shot(page, "passkey-02-signin");
  await laptop.plugBehindAutofill();
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  assert.equal(await readBody(page), body);
  assert.equal(await page.locator("#who").textContent(), "bob@patient.example");
  assert.equal(await page.locator("#offer-passkey").isVisible(), false, "no offer after a passkey sign-in");
  assert.equal((await laptop.credentials())[0].signCount, 2);

  // Autofill (conditional mediation): signed out, the page asks for a passkey
  // without a click, and the virtual device answers as a person picking it would.
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await until(async () => (await laptop.credentials())[0].signCount === 3, "the autofill request used the passkey");
  await page.locator("#who", { hasText: "bob@patient.example" }).waitFor();
  assert.equal(await readBody(page), body);

  // Another browser profile, without the passkey: an emailed code, then the offer.
  const ctxB = await browser.newContext();
  const phone = await ctxB.newPage();
  const phoneDevice = await device(phone);
  await phone.setViewportSize({ width: 375, height: 740 });
  await openFile(phone, env.file);
  await signInByCode(phone, "bob@patient.example");
  assert.equal(await readBody(phone), body);
  await phone.locator("#offer-passkey").waitFor();
  await shot(phone, "passkey-03-offer-phone");
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px phone`);
  await phone.getByRole("button", { name: "Add a passkey on this device" }).click();
  await phone.getByText("Passkey added.").waitFor();
  assert.equal(await phone.locator("#offer-passkey").isVisible(), false);
  assert.equal((await phoneDevice.credentials()).length, 1);
  // ... and it signs in on that device.
  await phoneDevice.unplug();
  await phone.getByRole("button", { name: "Sign out" }).first().click();
  await openFile(phone, env.file);
  await phone.locator("#panel-signin").waitFor();
  await phoneDevice.plugBehindAutofill();
  await phone.getByRole("button", { name: "Sign in with a passkey" }).click();
  assert.equal(await readBody(phone), body);

  // The account page lists both passkeys, renames one, and keeps the last way in.
  await page.goto(`${ws.base}/account`);
  await page.locator("#panel-passkeys").waitFor();
  await page.locator("#passkey-list tr").nth(1).waitFor();
  assert.equal(await page.locator("#passkey-list tr").count(), 2);
  await page.locator("#passkey-list tr").first().getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("New name").fill("Bob's <laptop>");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Passkey renamed.").waitFor();
  assert.match(await page.locator("#passkey-list tr").first().textContent(), /Bob's <laptop>/);
  await shot(page, "passkey-04-account");
  // One date format, with the time zone; on a phone each cell keeps its column's name.
  assert.match(await page.locator("#passkey-list tr td").nth(1).textContent(), /^\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} \S+$/);
  await page.setViewportSize({ width: 375, height: 740 });
  const label = await page.locator("#passkey-list tr td").nth(1).evaluate((td) => getComputedStyle(td, "::before").content);
  assert.equal(label, '"Added: "');
  await shot(page, "passkey-04-account-375");
  await page.setViewportSize({ width: 1280, height: 720 });
  // Remove the phone's passkey (two clicks, no dialog) ...
  const phoneRow = page.locator("#passkey-list tr").nth(1);
  await phoneRow.getByRole("button", { name: "Remove" }).click();
  await phoneRow.getByRole("button", { name: "Confirm: remove" }).click();
  await page.getByText(/^Removed the passkey/).waitFor();
  assert.equal(await page.locator("#passkey-list tr").count(), 1);
  // ... but not the last one while there is no password.
  const last = page.locator("#passkey-list tr").first();
  await last.getByRole("button", { name: "Remove" }).click();
  await last.getByRole("button", { name: "Confirm: remove" }).click();
  await page.getByText("This is the last way to sign in to your account: add another passkey or a password before removing it.").waitFor();
  assert.equal(await page.locator("#passkey-list tr").count(), 1);
  // With a password set, the passkey may go, and then the password may not.
  await page.locator("#new-password").fill("correct horse battery");
  await page.locator("#new-password2").fill("correct horse battery");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("Password saved.").waitFor();
  await page.getByRole("button", { name: "Remove the password" }).click();
  await page.getByText("Password removed.").waitFor();

  // The removed passkey no longer signs in on the phone.
  await phoneDevice.unplug();
  await phone.getByRole("button", { name: "Sign out" }).first().click();
  await openFile(phone, env.file);
  await phone.locator("#panel-signin").waitFor();
  await phoneDevice.plugBehindAutofill();
  await phone.getByRole("button", { name: "Sign in with a passkey" }).click();
  await phone.getByText(/This passkey is not registered here/).waitFor();
  assert.equal(await phone.locator("#who").textContent(), "");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);
  await ctxA.close();
  await ctxB.close();
});

test("a passkey of one account does not open another's message", async () => {
  const [forCarol] = ws.seal(message("carol@patient.example"), { to: ["carol@patient.example"] });
  const [forDan] = ws.seal(message("dan@patient.example"), { to: ["dan@patient.example"] });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const dev = await device(page);
  // Dan registers with a passkey.
  await openFile(page, forDan.file);
  await page.locator("#panel-register").waitFor();
  await page.getByLabel("First name").fill("Dan");
  await page.getByLabel("Last name").fill("Patient");
  const code = await mailedCode("dan@patient.example", () => page.getByRole("button", { name: "Send me a code" }).click());
  await page.locator("#reg-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: "Create a passkey and open the message" }).click();
  assert.equal(await readBody(page), body);
  await dev.unplug();
  await page.getByRole("button", { name: "Sign out" }).first().click();

  // Carol's message, Dan's passkey: signed in as Dan, and refused.
  await openFile(page, forCarol.file);
  // Carol has no account, so registration comes first; Dan has one.
  await page.getByRole("button", { name: "I already have an account" }).click();
  await page.locator("#panel-signin").waitFor();
  await dev.plugBehindAutofill();
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("#refused-h").textContent(), "This message is for someone else");
  assert.equal(await page.locator("#who").textContent(), "dan@patient.example");
  assert.equal(await page.locator("#panel-message").isVisible(), false);
  await ctx.close();
});

test("administrators enrol with a one-time link and need a passkey; a code sign-in is refused", async () => {
  const [env] = ws.seal(message("erin@patient.example", "PHI: admin test"), { to: ["erin@patient.example"] });
  // A row with long words beside the State column, and a state of several words.
  const long = "maximilian.alexander.montgomery-featherstonehaugh@patient-portal.example";
  const [crowded] = ws.seal(message(long, "PHI: Radiology report with findings, measurements and the radiologist's recommendations for follow-up"), { to: [long] });
  ws.admin("lock", "--reason", "Wrong recipient: the clinic will telephone the patient instead", crowded.id);
  const invite = JSON.parse(ws.admin("invite", "root@hospital.example"));
  assert.match(invite.link, /^http:\/\/localhost:\d+\/admin\/enrol#t=[A-Za-z0-9_-]{43}$/);

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const seen = watch(page, ws.base);
  const key = await device(page);
  await page.goto(invite.link);
  await page.locator("#panel-enrol").waitFor();
  assert.equal(new URL(page.url()).hash, "", "the token leaves the address bar");
  assert.equal(await page.locator("#enrol-for").textContent(), "For root@hospital.example.");
  await page.getByLabel("First name").fill("Rita");
  await page.getByLabel("Last name").fill("Root");
  await shot(page, "passkey-05-enrol");
  await Promise.all([page.waitForURL(`${ws.base}/admin`), page.getByRole("button", { name: "Create your administrator passkey" }).click()]);
  await page.locator("#panel-admin").waitFor();
  await page.getByRole("link", { name: "admin test" }).waitFor();
  assert.equal((await key.credentials()).length, 1);
  await shot(page, "passkey-06-admin-list");
  // The State (and Sent) columns never break inside a word at 1280 px.
  for (const td of await page.locator("#admin-list td.state, #admin-list td:nth-child(3)").all()) {
    const broken = await td.evaluate((el) => {
      const range = document.createRange();
      const text = el.firstChild;
      for (const m of text.textContent.matchAll(/\S+/g)) {
        range.setStart(text, m.index);
        range.setEnd(text, m.index + m[0].length);
        if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) return m[0];
      }
      return "";
    });
    assert.equal(broken, "", `the admin list broke "${broken}"`);
  }

  // Show one, lock it with a reason (markup stays text), unlock it.
  await page.getByRole("link", { name: "admin test" }).click();
  await page.locator("#panel-envelope").waitFor();
  assert.equal(await page.locator("#env-recipient").textContent(), "erin@patient.example");
  await page.getByLabel("Reason shown to the recipient").fill("Sent to the <b>wrong</b> patient");
  await page.getByRole("button", { name: "Lock", exact: true }).click();
  await page.getByText("Done: the message is now locked.").waitFor();
  assert.equal(await page.locator("#env-state").textContent(), "locked: Sent to the <b>wrong</b> patient");
  await shot(page, "passkey-07-admin-envelope");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByText("Done: the message is now active.").waitFor();
  assert.match(ws.admin("show", env.id), /"state":"active"/);
  const [doomed] = ws.seal(message("erin@patient.example", "PHI: to revoke"), { to: ["erin@patient.example"] });
  await page.goto(`${ws.base}/admin/envelopes/${doomed.id}`);
  await page.locator("#panel-envelope").waitFor();
  await page.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("button", { name: "Confirm: revoke for ever" }).click();
  await page.getByText("Done: the message is now revoked.").waitFor();
  assert.match(ws.admin("show", doomed.id), /"state":"revoked"/);
  assert.equal(await page.getByRole("button", { name: "Lock", exact: true }).isVisible(), false, "no Lock on a revoked message");

  // The enrolment link works once.
  const again = await ctx.newPage();
  await again.goto(invite.link);
  await again.getByText("This enrolment link is not valid").waitFor();
  await again.close();

  // Sign out; the same administrator with an emailed code is refused administration.
  await page.getByRole("button", { name: "Sign out" }).click();
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await p2.goto(`${ws.base}/account`);
  await p2.locator("#panel-signin").waitFor();
  await p2.getByRole("button", { name: "Email me a sign-in code instead" }).click();
  await p2.locator("#code-email").fill("root@hospital.example");
  const code = await mailedCode("root@hospital.example", () => p2.getByRole("button", { name: "Email me a code" }).click());
  await p2.locator("#code-code").fill(code);
  await p2.locator("#form-code-verify").getByRole("button", { name: "Sign in" }).click();
  await p2.locator("#panel-account").waitFor();
  await p2.goto(`${ws.base}/admin`);
  await p2.getByText("Administrators must sign in with a passkey.").waitFor();
  assert.equal(await p2.locator("#panel-admin").isVisible(), false);
  await shot(p2, "passkey-08-admin-refused");
  const api = await p2.evaluate(async () => {
    const r = await fetch("/api/v1/admin/envelopes", { headers: { "X-Waxseal-CSRF": "1" } });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(api.status, 403);
  assert.equal(api.body.error, "passkey_required");
  // Nor may that session add a passkey of its own to the administrator's account
  // (it would then sign in as the administrator with it).
  const add = await p2.evaluate(async () => {
    const r = await fetch("/api/v1/account/passkeys/begin", { method: "POST", headers: { "X-Waxseal-CSRF": "1" } });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(add.status, 403);
  assert.equal(add.body.error, "passkey_required");
  await other.close();

  // Back with the passkey (on the device that holds it).
  await page.goto(`${ws.base}/admin`);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.locator("#panel-admin").waitFor();
  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);
  await ctx.close();

  const audit = ws.admin("audit", "export");
  for (const action of ["admin.invite", "admin.enrol", "passkey.add", "admin.signin", "envelope.lock"]) {
    assert.match(audit, new RegExp(`"action":"${action.replace(".", "\\.")}"`), `audit has ${action}`);
  }
});

test("a sender registers with a passkey, sees a message to two as one entry, locks one with a reason and revokes", async () => {
  const [frank, hana] = ws.seal(withAttachment("frank@patient.example, hana@patient.example", "PHI: for Frank and Hana"),
    { to: ["frank@patient.example", "hana@patient.example"], from: "Gina Sender <gina@hospital.example>", online: true });
  ws.seal(message("ivy@patient.example", "PHI: for Ivy"), { to: ["ivy@patient.example"], from: "Gina Sender <gina@hospital.example>" });
  // Through the gateway, which registers the attachment names for Sent items.
  await ws.send(withNames("jo@patient.example", "PHI: scans for Jo"), { from: "gina@hospital.example", to: ["jo@patient.example"] });
  // The development gateway reports Jo's copy delivered (its sink takes
  // everything); wait for that report as a script would, by asking.
  for (let i = 0; !/"delivery":\{"state":"delivered"/.test(ws.admin("envelopes", "--recipient", "jo@patient.example")); i++) {
    if (i > 100) throw new Error("the gateway never reported Jo's copy delivered");
    await new Promise((r) => setTimeout(r, 50));
  }
  // A next hop that greylists Frank's copy and refuses Hana's, as a gateway
  // reports it; the refusal's words are markup that must stay text.
  const refusal = `550 5.1.1 <img src=x onerror="window.xss=1"> no such user`;
  const reported = await fetch(`${ws.base}/api/v1/deliveries`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ws.tokens.gateway_token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ deliveries: [
      { id: frank.id, state: "queued", detail: "451 4.7.1 greylisted, try again later", at: new Date().toISOString() },
      { id: hana.id, state: "refused", detail: refusal, at: new Date().toISOString() },
    ] }),
  });
  assert.equal(reported.status, 200);
  assert.deepEqual(await reported.json(), { changed: 2 });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await device(page);
  await page.goto(`${ws.base}/sent`);
  await page.locator("#panel-signin").waitFor();
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByLabel("Your work email address").fill("gina@hospital.example");
  await page.locator("#staff-first").fill("Gina");
  await page.locator("#staff-last").fill("Sender");
  const code = await mailedCode("gina@hospital.example", () => page.locator("#form-staff-register").getByRole("button", { name: "Send me a code" }).click());
  await page.locator("#staff-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  // Registering from /sent stays on /sent, with the last step said plainly.
  await page.getByRole("heading", { name: "Finish registering: add a passkey or a password" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/sent");
  await shot(page, "passkey-08-sent-finish-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "passkey-08-sent-finish-375");
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.getByRole("button", { name: "Add a passkey on this device" }).click();
  await page.getByText("Registration finished. Your sent items show here.").waitFor();
  await page.locator("#panel-sent").waitFor();
  assert.equal(new URL(page.url()).pathname, "/sent");

  // One entry per message, both recipients inside the one sent to two.
  const entries = page.locator("#sent-list article.sent-msg");
  await entries.first().waitFor();
  assert.equal(await entries.count(), 3, "three messages, four envelopes: three entries");
  const entry = entries.filter({ hasText: "for Frank and Hana" });
  assert.equal(await entry.locator("li.sent-rcpt").count(), 2);
  const frankRow = entry.locator("li.sent-rcpt", { hasText: "frank@patient.example" });
  const hanaRow = entry.locator("li.sent-rcpt", { hasText: "hana@patient.example" });
  // The message's size (its attachment's 30 KB and more), once for the message.
  assert.match(await entry.locator(".sent-head .note").textContent(), /· 2 recipients · (4[0-9]|5[0-9]) KB$/);
  await shot(page, "passkey-09-sent");
  // Each copy's delivery, as text.
  assert.match(await frankRow.locator(".delivery").textContent(), /^Queued: not yet taken by the recipient's mail server \(451 4\.7\.1 greylisted, try again later\); the gateway keeps trying$/);
  assert.equal(await hanaRow.locator(".delivery").textContent(), `Refused by the recipient's mail server: ${refusal}`);
  assert.equal(await hanaRow.locator("img").count(), 0, "a next hop's reply is never markup");
  assert.match(await entries.filter({ hasText: "scans for Jo" }).locator(".delivery").textContent(), /^Delivered to the recipient's mail server /);
  assert.equal(await entries.filter({ hasText: "for Ivy" }).locator(".delivery").count(), 0, "no report, no line");
  await entry.scrollIntoViewIfNeeded();
  await shot(page, "passkey-09e-sent-delivery-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await entry.scrollIntoViewIfNeeded();
  await shot(page, "passkey-09e-sent-delivery-375");
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(phoneOverflow <= 0, `the sent items page is ${phoneOverflow}px wider than a 375px phone`);
  await page.setViewportSize({ width: 1280, height: 720 });
  // The gateway's message lists its attachment names, the hostile one as text.
  const jo = entries.filter({ hasText: "scans for Jo" });
  assert.deepEqual(await jo.locator(".sent-head .sent-files li").allTextContents(), ["scan-2026-11-19.png", hostileName]);
  assert.equal(await jo.locator(".sent-files img").count(), 0, "a name that is markup stays text");
  assert.equal(await page.evaluate(() => window.xss), undefined, "and runs nothing");
  assert.equal(await entry.locator(".sent-files").count(), 0, "a message registered without names lists none");
  await jo.scrollIntoViewIfNeeded();
  await shot(page, "passkey-09a-sent-attachments-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await jo.scrollIntoViewIfNeeded();
  assert.ok(await jo.getByText(hostileName, { exact: true }).isVisible(), "the names show on a phone");
  const narrow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(narrow <= 0, `the sent items page is ${narrow}px wider than a 375px phone`);
  await shot(page, "passkey-09a-sent-attachments-375");
  await page.setViewportSize({ width: 1280, height: 720 });

  // Lock Hana's copy with a reason.
  const reason = "Sent to the wrong patient; the clinic will call you.";
  await hanaRow.getByRole("button", { name: "Lock" }).click();
  await hanaRow.getByLabel("Reason hana@patient.example will see").fill(reason);
  await shot(page, "passkey-09b-sent-lock-form-1280");
  await hanaRow.getByRole("button", { name: "Lock", exact: true }).click();
  await page.getByText("Locked the message to hana@patient.example.").waitFor();
  assert.match(await hanaRow.locator(".state").textContent(), /^Locked: “Sent to the wrong patient; the clinic will call you\.”/);
  assert.match(await frankRow.locator(".state").textContent(), /^Live; not opened/);
  assert.equal(await hanaRow.getByRole("button", { name: "Unlock" }).count(), 1, "a locked copy offers Unlock");
  assert.equal(await hanaRow.getByRole("button", { name: "Lock", exact: true }).count(), 0, "and no Lock");
  await shot(page, "passkey-09c-sent-locked-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "passkey-10-sent-phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the sent items page is ${overflow}px wider than a 375px phone`);
  // Extend Hana's expiry (a locked copy keeps its lock).
  const later = new Date(Date.now() + 60 * 86400000);
  const ymd = `${later.getFullYear()}-${String(later.getMonth() + 1).padStart(2, "0")}-${String(later.getDate()).padStart(2, "0")}`;
  await hanaRow.getByRole("button", { name: "Change expiry" }).click();
  await hanaRow.getByLabel("Expires at the end of (empty: never)").fill(ymd);
  await hanaRow.getByRole("button", { name: "Save" }).click();
  await page.getByText("The message to hana@patient.example now expires").waitFor();
  const hanaNow = JSON.parse(ws.admin("show", hana.id));
  assert.equal(new Date(hanaNow.expires).getTime(), new Date(`${ymd}T23:59:59`).getTime());
  assert.equal(hanaNow.state, "locked");
  assert.match(await hanaRow.locator(".state").textContent(), /^Locked: .*; not opened; expires /);
  await shot(page, "passkey-09d-sent-extended-375");
  await page.setViewportSize({ width: 1280, height: 720 });
  await shot(page, "passkey-09d-sent-extended-1280");
  await page.setViewportSize({ width: 375, height: 740 });
  await frankRow.getByRole("button", { name: "Revoke" }).click();
  await frankRow.getByRole("button", { name: "Confirm: revoke" }).click();
  await page.getByText("Revoked the message to frank@patient.example.").waitFor();
  assert.match(ws.admin("show", frank.id), /"state":"revoked"/);
  assert.match(ws.admin("show", hana.id), /"state":"locked"/);
  // Filtered by state: the message with a locked copy, whole.
  await page.getByLabel("State").selectOption("locked");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("#sent-list article.sent-msg", { hasText: "for Ivy" }).waitFor({ state: "detached" });
  assert.equal(await entries.count(), 1);
  assert.equal(await entries.first().locator("li.sent-rcpt").count(), 2, "the whole message");
  await page.getByLabel("State").selectOption("");
  // Filtered by a recipient: only the messages to that address.
  await page.getByLabel("Sent to").fill("hana@patient.example");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("#sent-list li.sent-rcpt", { hasText: "frank@patient.example" }).waitFor({ state: "detached" });
  assert.equal(await entries.count(), 1);
  assert.equal(await entries.first().locator("li.sent-rcpt").count(), 1, "only the copy to hana");
  await shot(page, "passkey-10b-sent-filtered-phone");
  // By subject words and by date: today's messages match, tomorrow's none.
  await page.getByLabel("Sent to").fill("");
  await page.getByLabel("Subject has").fill("IVY");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("#sent-list article.sent-msg", { hasText: "for Frank and Hana" }).waitFor({ state: "detached" });
  assert.deepEqual(await entries.locator("h2").allTextContents(), ["for Ivy"]);
  await page.getByLabel("Subject has").fill("");
  const tomorrow = new Date(Date.now() + 86400000);
  await page.getByLabel("Sent on or after").fill(`${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}`);
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.getByText("No message matches.").waitFor();
  await page.getByLabel("Sent on or after").fill("");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await entries.nth(1).waitFor();

  // Hana's open page says the message is locked, and why.
  for (const width of [1280, 375]) {
    const rctx = await browser.newContext({ viewport: { width, height: 740 } });
    const rpage = await rctx.newPage();
    await rpage.goto(hana.online_url);
    await rpage.locator("#panel-refused").waitFor();
    assert.equal(await rpage.locator("#refused-h").textContent(), "This message is locked");
    assert.match(await rpage.locator("#refused-text").textContent(), /Sent to the wrong patient; the clinic will call you\./);
    await shot(rpage, `passkey-11-recipient-locked-${width}`);
    await rctx.close();
  }
  await ctx.close();
});
