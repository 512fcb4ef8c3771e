// Secure reply in a real browser (issue 16): the recipient replies from the
// message page with an attachment; the decryptor seals it to the organisation's
// reply key, the key server stores it, and the gateway of `waxseal serve --dev`
// delivers it to the original sender with From and To of its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { root, startWaxseal, launch, watch, shot } from "./harness.mjs";

const password = "correct horse battery";
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

async function visit(page, url) {
  await page.goto("about:blank");
  await page.goto(url);
}

async function register(page, email, first, last) {
  await page.locator("#panel-register").waitFor(); // someone without an account is shown registration
  await page.getByLabel("First name").fill(first);
  await page.getByLabel("Last name").fill(last);
  const before = ws.mailCount(email);
  await page.getByRole("button", { name: "Send me a code" }).click();
  const { code } = await ws.code(email, before);
  await page.locator("#reg-code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.locator("#register-choose").waitFor();
  await page.getByLabel("Choose a password").fill(password);
  await page.getByLabel("The same password again").fill(password);
  await page.getByRole("button", { name: "Finish and open the message" }).click();
}

// mailFor waits for a mail to addr in the development mail directory whose
// text includes marker, as the sender's mailbox would receive it.
async function mailFor(addr, marker) {
  const dir = path.join(ws.dir, "mail");
  for (let i = 0; i < 400; i++) {
    for (const f of readdirSync(dir).filter((n) => n.includes(addr) && n.endsWith(".eml"))) {
      const text = readFileSync(path.join(dir, f), "latin1");
      if (text.includes(marker)) return text;
    }
    await sleep(50);
  }
  throw new Error(`no mail to ${addr} with ${marker}`);
}

// part returns the decoded body of the MIME part whose headers match re.
function part(mail, re) {
  const boundary = /boundary="([^"]+)"/.exec(mail)[1];
  for (const p of mail.split(`--${boundary}`)) {
    const cut = p.indexOf("\r\n\r\n");
    if (cut > 0 && re.test(p.slice(0, cut))) return Buffer.from(p.slice(cut + 4).replace(/\s+/g, ""), "base64");
  }
  throw new Error(`no part matching ${re}`);
}

test("reply with an attachment reaches the sender; the draft survives a reload; a revoked message takes no reply", async () => {
  const [env] = ws.seal(sample, { online: true });
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page, ws.base);
  await visit(page, env.online_url);
  await register(page, "bob@patient.example", "Bob", "Patient");
  await page.locator("#panel-message").waitFor();
  await page.locator("#panel-reply").waitFor();

  await page.getByRole("button", { name: "Reply", exact: true }).click();
  await page.getByRole("textbox", { name: "Message" }).fill("Thank you, doctor. My questions are attached.\nFrom: mallory@evil.example");
  // The draft is kept in this tab across a reload of the message.
  await visit(page, env.online_url);
  await page.locator("#panel-message").waitFor();
  await page.locator("#reply-form").waitFor();
  assert.match(await page.getByRole("textbox", { name: "Message" }).inputValue(), /My questions are attached/);

  const pdf = Buffer.alloc(123_457);
  for (let i = 0; i < pdf.length; i++) pdf[i] = (i * 31 + 7) & 255;
  await page.setInputFiles("#reply-files", { name: "questions.pdf", mimeType: "application/pdf", buffer: pdf });
  await shot(page, "reply-01-compose");
  await page.getByRole("button", { name: "Send securely" }).click();
  await page.locator("#reply-sent").getByText(/You replied on/).waitFor();
  assert.equal(await page.locator("#reply-form").isHidden(), true);
  // The one date format of every page and mail, with the time zone.
  assert.match(await page.locator("#reply-sent").textContent(), /You replied on \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} \S+/);
  await shot(page, "reply-02-sent");
  // The recipient opens their own reply: the key server hands back their copy,
  // which only this message's keys open, in this browser.
  await page.locator("#reply-sent").getByRole("button", { name: /^Open your reply of / }).click();
  await page.locator("#reply-view").waitFor();
  assert.match(await page.locator("#reply-view-h").textContent(), /^Re: /);
  assert.match(await page.locator("#reply-view-text").textContent(), /My questions are attached/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#reply-view-att a", { hasText: "questions.pdf" }).click()]);
  assert.deepEqual(readFileSync(await download.path()), pdf);
  await shot(page, "reply-02b-own-reply");

  const mail = await mailFor("alice@hospital.example", "questions.pdf");
  const head = mail.slice(0, mail.indexOf("\r\n\r\n"));
  assert.match(head, /^From: "Bob Patient" <bob@patient\.example>$/m);
  assert.match(head, /^To: alice@hospital\.example$/m);
  assert.match(head, /^Subject: Re: /m);
  assert.match(head, /^Message-ID: <[^>]+@[^>]+>$/m);
  assert.doesNotMatch(head, /mallory/);
  assert.deepEqual(part(mail, /filename\*=utf-8''questions\.pdf/), pdf);
  assert.match(part(mail, /text\/plain/).toString(), /My questions are attached/);

  // The sender sees the reply beside the message in their sent items: who,
  // when, how large and where it went, never what it says.
  const staff = await browser.newContext();
  const sent = await staff.newPage();
  await sent.goto(`${ws.base}/sent`);
  await sent.locator("#panel-signin").waitFor();
  await sent.getByRole("button", { name: "Register" }).click();
  await sent.getByLabel("Your work email address").fill("alice@hospital.example");
  await sent.locator("#staff-first").fill("Alice");
  await sent.locator("#staff-last").fill("Example");
  const mails = ws.mailCount("alice@hospital.example");
  await sent.locator("#form-staff-register").getByRole("button", { name: "Send me a code" }).click();
  const { code } = await ws.code("alice@hospital.example", mails);
  await sent.locator("#staff-code").fill(code);
  await sent.getByRole("button", { name: "Continue" }).click();
  await sent.locator("#panel-finish").waitFor();
  await sent.locator("#new-password").fill(password);
  await sent.locator("#new-password2").fill(password);
  await sent.getByRole("button", { name: "Set password" }).click();
  const note = sent.locator("#sent-list li.sent-rcpt", { hasText: "bob@patient.example" }).locator(".sent-replies li");
  await note.waitFor();
  // The gateway reports the delivery just after the mail is handed on.
  assert.match(await note.textContent(), /^Bob Patient \(bob@patient\.example\) replied on .+ \(1\d\d KB\): (delivered to your mailbox|on its way)\.$/);
  await shot(sent, "reply-03-sent-items");
  await staff.close();

  // The sender's organisation withdraws the message: no more replies.
  ws.admin("revoke", env.id);
  await page.getByRole("button", { name: "Reply", exact: true }).click();
  await page.getByRole("textbox", { name: "Message" }).fill("One more question");
  await page.getByRole("button", { name: "Send securely" }).click();
  await page.locator("#reply-error").getByText(/withdrawn/).waitFor();
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.dialogs, []);
  await context.close();
});
