// The recipient's journey in Chromium against the Worker under wrangler dev
// --local: a securedoc.html sealed by the real `waxseal seal` (registering
// with the Worker) is opened from disk; the recipient registers with the code
// the Worker queued in its outbox and `waxseal gateway` relayed to the mail
// sink, creates a passkey (a CDP virtual authenticator) and reads the message
// decrypted in the page; `waxseal admin revoke` makes the next open refused at
// once; a 10 MB message stored in R2 opens online and shows its text. No page
// offers or mentions a password anywhere. Screenshots at 375 px and 1280 px go
// to build/screenshots/ (worker-*).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { passkeyDevice, shot, watch, startWithBrowser } from "../e2e/harness.mjs";
import { startInstallation } from "./install.mjs";

const phone = { width: 375, height: 740 };
const desktop = { width: 1280, height: 900 };
const bob = "bob@patient.example";

let inst, browser, stop;
before(async () => ({ server: inst, browser, stop } = await startWithBrowser(() => startInstallation())));
after(() => stop?.());

const body = "Dear Bob,\n\nyour MRI on 19 November showed nothing of concern.\n\nDr. Alice Example\n";
const message = (subject, extra = "") => Buffer.from(
  `From: Dr. Alice Example <alice@hospital.example>\r\nTo: ${bob}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  (extra
    ? `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body.replace(/\n/g, "\r\n")}\r\n${extra}--b1--\r\n`
    : `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body.replace(/\n/g, "\r\n")}`));

// scan is an image of about 7.5 MB that does not compress: with its base64
// the message is over 10 MB, and its ciphertext goes to R2.
const scan = randomBytes(7_500_000);
const withScan = () => message("PHI: Your MRI images",
  "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=mri-2026-11-19.dcm\r\n" +
  `Content-Transfer-Encoding: base64\r\n\r\n${scan.toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n`);

// openFile opens a securedoc.html from disk and presses Open, as a recipient
// does: the form posts the ciphertext to the Worker.
async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
}

// noPasswords fails if the page's visible text says "password" in any of the
// shipped languages, or it shows a password field.
async function noPasswords(page, where) {
  const text = await page.locator("body").innerText();
  const at = /passw|contrase|kennwort/i.exec(text);
  assert.equal(at, null, `${where} says: ${at && text.slice(Math.max(0, at.index - 80), at.index + 40)}`);
  assert.equal(await page.locator("input[type=password]:visible").count(), 0, `${where} shows a password field`);
}

// both takes the step's screenshots at 1280 px and 375 px (and checks that
// nothing is wider than the phone), then goes back to the desktop size.
async function both(page, name) {
  await noPasswords(page, name);
  await page.setViewportSize(desktop);
  await shot(page, `${name}-1280`);
  await page.setViewportSize(phone);
  await shot(page, `${name}-375`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than a 375px phone`);
  await noPasswords(page, `${name} at 375 px`);
  await page.setViewportSize(desktop);
}

// mailedCode runs action and returns the code it had mailed to email: queued in
// the Worker's outbox, leased by the gateway, relayed to the sink.
async function mailedCode(email, action) {
  const after = inst.sink.mails.length;
  await action();
  return (await inst.code(email, after)).code;
}

test("register by emailed code and passkey, read, revoke: refused at once; 10 MB from R2 opens online", { timeout: 240_000 }, async () => {
  const [env] = inst.seal(message("PHI: Your MRI report"));
  const context = await browser.newContext({ viewport: desktop });
  const page = await context.newPage();
  // Each step waits on the Worker (one Go instance, one request at a time) and
  // the gateway's drain; CI's two cores may be busy with other work.
  page.setDefaultTimeout(60_000);
  const seen = watch(page, inst.url);
  const device = await passkeyDevice(page);

  await openFile(page, env.file);
  // Bob has no account here yet: registration first, with no password anywhere.
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("#panel-signin").isVisible(), false);
  assert.equal(await page.locator("#sum-from").textContent(), "Dr. Alice Example <alice@hospital.example>");
  await both(page, "worker-01-register");
  await page.getByLabel("First name").fill("Bob");
  await page.getByLabel("Last name").fill("Patient");
  const code = await mailedCode(bob, () => page.getByRole("button", { name: "Send me a code" }).click());
  await page.locator("#reg-code").fill(code);
  await both(page, "worker-02-code");
  await page.getByRole("button", { name: "Continue" }).click();
  // The last step is a passkey, and nothing else.
  await page.locator("#register-choose").waitFor();
  assert.equal(await page.getByRole("button", { name: "Create a passkey and open the message" }).isVisible(), true);
  await both(page, "worker-03-passkey");
  await page.getByRole("button", { name: "Create a passkey and open the message" }).click();
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("#msg-text").textContent(), body);
  assert.equal(await page.locator("#msg-subject").textContent(), "Your MRI report");
  const made = await device.credentials();
  assert.equal(made.length, 1);
  assert.equal(made[0].rpId, "localhost");
  await both(page, "worker-04-message");

  // A 10 MB message whose ciphertext is in R2, opened online by its link.
  const [big] = inst.seal(withScan(), { online: true });
  assert.match(big.online_url, new RegExp(`^${inst.url}/e/${big.id}#k=`));
  const payload = page.waitForResponse((r) => r.url() === `${inst.url}/api/v1/envelopes/${big.id}/payload`);
  await page.goto("about:blank");
  await page.goto(big.online_url);
  const served = await payload;
  assert.equal(served.status(), 200);
  assert.ok((await served.body()).length > 10_000_000, "the stored ciphertext is over 10 MB");
  await page.locator("#panel-message").waitFor({ timeout: 60_000 });
  assert.equal(await page.locator("#msg-text").textContent(), body);
  assert.match(await page.locator("#msg-attachments").textContent(), /mri-2026-11-19\.dcm/);
  await both(page, "worker-05-online-10mb");

  // Revoked through `waxseal admin` against the Worker's admin API: the very
  // next open of the file is refused, and says why.
  inst.admin("revoke", env.id);
  await openFile(page, env.file);
  await page.locator("#panel-refused").waitFor();
  assert.equal(await page.locator("body").getAttribute("data-state"), "revoked");
  assert.equal(await page.locator("#panel-message").isVisible(), false);
  await both(page, "worker-06-revoked");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, [], "requests left for elsewhere than the Worker");
  await context.close();
});
