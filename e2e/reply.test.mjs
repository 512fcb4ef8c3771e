// Secure reply in a real browser (issue 16): the recipient replies from the
// message page with an attachment; the decryptor seals it to the organisation's
// reply key, the key server stores it, and the gateway of `waxseal serve --dev`
// delivers it to the original sender with From and To of its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { root, watch, shot, startWithBrowser } from "./harness.mjs";

const password = "correct horse battery";
let ws, browser, stop;

before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

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
  // The recipient's copy of their reply goes with the message: the key server
  // refuses it as it refuses the message.
  const [copied] = await Promise.all([
    page.waitForResponse((r) => /\/replies\/[0-9a-f]+\/copy$/.test(new URL(r.url()).pathname)),
    page.locator("#reply-sent").getByRole("button", { name: /^Open your reply of / }).click(),
  ]);
  assert.equal(copied.status(), 410);
  await page.locator("#reply-error").getByText(/withdrawn/).waitFor();
  assert.equal(await page.locator("#reply-view").isHidden(), true);
  await shot(page, "reply-06-copy-after-revoke");
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.dialogs, []);
  await context.close();
});

// securedoc returns the securedoc.html attached to a wrapper mail, written to a
// file as the recipient's mail client would save it.
function securedoc(mail, name) {
  const boundary = /boundary="(waxseal-mixed-[^"]+)"/.exec(mail)[1];
  const p = mail.split(`--${boundary}`).find((x) => /filename="securedoc_[^"]+\.html"/.test(x));
  const file = path.join(ws.dir, `${name}.html`);
  writeFileSync(file, p.slice(p.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, ""), "latin1");
  return file;
}

async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.getByRole("button", { name: "Open" }).click()]);
}

test("reply all reaches the internal recipients in plaintext and the external one as an envelope that opens to it; a forward outside the organisation is refused", async () => {
  // A message through the gateway, which registers its people for reply all:
  // one internal and one external other recipient beside the patient.
  const msgID = `e2e-replyall-${Date.now()}@hospital.example`;
  await ws.send([
    "From: Dr. Alice Example <alice@hospital.example>",
    "To: Erin Patient <erin@patient.example>, Carol Nurse <carol@hospital.example>",
    "Cc: Dave GP <dave@clinic.example>",
    "Subject: PHI: Your care plan",
    `Message-ID: <${msgID}>`,
    "Date: Fri, 04 Dec 2026 09:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Dear Erin, your care plan is agreed with Carol and Dr Dave.",
    "",
  ].join("\r\n"), { from: "alice@hospital.example", to: ["erin@patient.example", "carol@hospital.example", "dave@clinic.example"] });
  const erinFile = securedoc(await mailFor("erin@patient.example", "Your care plan"), "erin-careplan");

  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(page, ws.base);
  await openFile(page, erinFile);
  await register(page, "erin@patient.example", "Erin", "Patient");
  await page.locator("#panel-message").waitFor();
  await page.locator("#panel-reply").waitFor();

  // Forwarding outside the organisation is refused by the key server, with its reason.
  await page.getByRole("button", { name: "Forward" }).click();
  await page.getByLabel("Forward to").fill("someone@gmail.example");
  await page.getByRole("textbox", { name: "Message" }).fill("For my records");
  await page.getByRole("button", { name: "Send securely" }).click();
  await page.locator("#reply-error").getByText("Your sender's organisation allows forwarding its secure messages only to its own addresses.").waitFor();
  await shot(page, "reply-04-forward-refused");
  await page.getByRole("button", { name: "Discard" }).click();

  // Reply all.
  await page.getByRole("button", { name: "Reply all" }).click();
  await page.getByRole("textbox", { name: "Message" }).fill("Thank you all. reply-all-canary-5521");
  await page.getByRole("button", { name: "Send securely" }).click();
  await page.locator("#reply-sent").getByText(/You replied to all on/).waitFor();

  // Inside: plaintext, From the patient's verified address, threaded.
  for (const rcpt of ["alice@hospital.example", "carol@hospital.example"]) {
    const mail = await mailFor(rcpt, `In-Reply-To: <${msgID}>`);
    const head = mail.slice(0, mail.indexOf("\r\n\r\n"));
    assert.match(head, /^From: "Erin Patient" <erin@patient\.example>$/m, rcpt);
    assert.match(head, /^To: alice@hospital\.example$/m, rcpt);
    assert.match(head, /^Cc: carol@hospital\.example, dave@clinic\.example$/m, rcpt);
    assert.match(part(mail, /text\/plain/).toString(), /reply-all-canary-5521/, rcpt);
  }
  // Outside: an envelope under the organisation's sender, never the text.
  const daveMail = await mailFor("dave@clinic.example", "Erin Patient via");
  assert.doesNotMatch(daveMail, /reply-all-canary-5521/);
  const daveHead = daveMail.slice(0, daveMail.indexOf("\r\n\r\n"));
  assert.match(daveHead, /^From: "Erin Patient via [^"]+" <[^>]+@[^>]+>$/m);
  assert.doesNotMatch(daveHead, /^From: .*erin@patient\.example/m);
  assert.match(daveHead, /^Reply-To: "Erin Patient" <erin@patient\.example>$/m);
  await context.close();

  // Dave opens it in his browser: the reply, decrypted.
  const dctx = await browser.newContext();
  const dpage = await dctx.newPage();
  const dseen = watch(dpage, ws.base);
  await openFile(dpage, securedoc(daveMail, "dave-reply"));
  await register(dpage, "dave@clinic.example", "Dave", "Doctor");
  await dpage.locator("#panel-message").waitFor();
  assert.match(await dpage.locator("#msg-text").textContent(), /reply-all-canary-5521/);
  assert.match(await dpage.locator("#msg-from").textContent(), /Erin Patient <erin@patient\.example>/);
  await shot(dpage, "reply-05-external-opens-reply");
  assert.deepEqual([...seen.foreign, ...dseen.foreign], []);
  assert.deepEqual([...seen.dialogs, ...dseen.dialogs], []);
  await dctx.close();
});
