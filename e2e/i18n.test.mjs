// Languages in a real browser: the recipient's whole journey in Spanish (from
// the browser's Accept-Language) and in German on a 375 px phone, the key
// server's console pages in both, and the language switcher, whose choice made
// before signing in is kept on the account (pages and code mails follow it),
// and securedoc.html opened from file:// in the recipient's language (the
// organisation's default_language, then the language saved on their account).
// Screenshots go to build/screenshots/i18n-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { root, startWaxseal, watch, shot, startWithBrowser } from "./harness.mjs";

const password = "una contraseña larga 7";
let ws, browser, stop;

before(async () => ({ server: ws, browser, stop } = await startWithBrowser()));
after(() => stop?.());

// catalog reads shipped catalogs' plain messages (locale/catalog/NAME.toml
// for each name: one "id" = "text" a line), to tell English on the screen
// from the language's.
function catalog(...names) {
  const out = {};
  const text = names.map((n) => readFileSync(path.join(root, "locale", "catalog", `${n}.toml`), "utf8")).join("\n");
  for (const line of text.split("\n")) {
    const m = /^"([^"]+)" = ("(?:[^"\\]|\\.)*")\s*$/.exec(line);
    if (m) out[m[1]] = JSON.parse(m[2]);
  }
  return out;
}
const en = catalog("en", "audit.en"); // the pages, and the audit log as the console says it

// englishOnScreen lists the English messages the page shows that lang says
// otherwise: a sentence or label left untranslated in a page or a script
// (the switcher names each language in itself: "English" is no mistake).
// data are selectors of what shows stored records as they are, not words of
// the page: the audit records' action codes, the denials' codes.
async function englishOnScreen(page, lang, data = []) {
  const theirs = catalog(lang, `audit.${lang}`);
  const text = await page.evaluate((sels) => {
    const els = sels.flatMap((s) => [...document.querySelectorAll(s)]);
    for (const el of els) el.dataset.display = el.style.display;
    for (const el of els) el.style.display = "none";
    const out = document.body.innerText;
    for (const el of els) el.style.display = el.dataset.display;
    return out;
  }, data);
  // A message as a whole word or words ("sender", not the one in "Absenderin").
  const shown = (s) => new RegExp(`(?<![\\p{L}])${s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\p{L}])`, "u").test(text);
  return Object.entries(en).filter(([id, s]) => id !== "language.name" && s.length >= 6 && !/\{/.test(s) && theirs[id] !== s && shown(s)).map(([id, s]) => `${id}: ${s}`);
}

// noOverflow fails when the page is wider than its window (a long German word
// that does not wrap makes a phone scroll sideways).
async function noOverflow(page, what) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= inner, `${what}: the page is ${scroll}px wide in a ${inner}px window`);
}

// decodeWords decodes RFC 2047 encoded words (the subjects' =?utf-8?q?…?=).
function decodeWords(s) {
  return s.replace(/=\?utf-8\?([qb])\?([^?]*)\?=\s*/gi, (_, enc, text) => (enc.toLowerCase() === "b"
    ? Buffer.from(text, "base64")
    : Buffer.from(text.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (m, h) => String.fromCharCode(parseInt(h, 16))), "latin1")).toString("utf8"));
}

// mailTo waits for the mail sink's newest mail to email beyond the after-th,
// and returns its decoded subject and body and the code the subject carries.
async function mailTo(email, after) {
  const dir = path.join(ws.dir, "mail");
  for (let i = 0; i < 200; i++) {
    const files = readdirSync(dir).filter((f) => f.includes(email)).sort();
    if (files.length > after) {
      const raw = readFileSync(path.join(dir, files[files.length - 1]), "latin1");
      const [head, ...rest] = raw.split("\r\n\r\n");
      const subject = decodeWords((/^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(head) || [])[1]?.replace(/\r\n[ \t]/g, " ") || "");
      const body = Buffer.from(rest.join("\r\n\r\n").replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8");
      return { subject, body, code: (/(\d{6})\s*$/.exec(subject) || [])[1] };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail to ${email}`);
}

// device is a CDP virtual authenticator (a platform passkey with user
// verification) for page, as in passkeys.test.mjs.
async function device(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials };
}

const message = (to, subject, body) => Buffer.from(
  `From: Dra. Alicia Ejemplo <alicia@hospital.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body.replace(/\n/g, "\r\n")}`);

// openFile opens a securedoc.html from disk and presses its Open button.
async function openFile(page, file) {
  await page.goto(`file://${file}`);
  await Promise.all([page.waitForURL(/\/(open|e)\/[0-9a-f]{32}/), page.locator("#waxseal button[type=submit]").click()]);
}

test("the recipient's journey in Spanish, from Accept-Language: es", async () => {
  const email = "ana@paciente.example";
  const body = "Estimada Ana:\n\nsus resultados del 19 de noviembre son normales.\n";
  const [env] = ws.seal(message(email, "Sus resultados", body), { to: [email] });
  const context = await browser.newContext({ locale: "es-ES", extraHTTPHeaders: { "Accept-Language": "es" }, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const seen = watch(page, ws.base);
  const dev = await device(page);

  await openFile(page, env.file);
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "es");
  assert.deepEqual(await englishOnScreen(page, "es"), []);
  await shot(page, "i18n-es-01-register");

  // Register: the code comes in a Spanish mail.
  await page.getByLabel("Nombre").fill("Ana");
  await page.getByLabel("Apellidos").fill("García");
  const before = ws.mailCount(email);
  await page.getByRole("button", { name: "Envíenme un código" }).click();
  const mail = await mailTo(email, before);
  assert.match(mail.subject, /^Su código de registro: \d{6}$/);
  assert.match(mail.body, /El código es válido durante 10 minutos y solo se puede usar una vez\./);
  await page.locator("#status", { hasText: "Hemos enviado un código a" }).waitFor();
  await page.locator("#reg-code").fill(mail.code);
  await page.getByRole("button", { name: "Continuar" }).click();
  await page.locator("#register-choose").waitFor();
  assert.deepEqual(await englishOnScreen(page, "es"), []);
  await shot(page, "i18n-es-02-choose");

  // A passkey (the virtual authenticator), and the message, decrypted.
  await page.getByRole("button", { name: "Crear una llave de acceso y abrir el mensaje" }).click();
  await page.locator("#panel-message").waitFor();
  assert.equal((await dev.credentials()).length, 1);
  assert.equal(await page.locator("#msg-text").textContent(), body);
  assert.match(await page.locator("#msg-date").textContent(), /^\d{1,2} de noviembre de 2026, \d{2}:\d{2} \S+/);
  assert.deepEqual(await englishOnScreen(page, "es"), []);
  await shot(page, "i18n-es-03-message");

  // The account page speaks Spanish too, its script's texts included.
  await page.goto(`${ws.base}/account`);
  await page.locator("#passkey-list tr").first().waitFor();
  assert.equal(await page.locator("#account-h").textContent(), "Su cuenta");
  assert.match(await page.locator("#password-state").textContent(), /^No tiene contraseña/);
  await page.getByRole("button", { name: "Cambiar nombre" }).click();
  await page.getByLabel("Nuevo nombre").fill("Portátil de Ana");
  await page.getByRole("button", { name: "Guardar" }).click();
  await page.getByText("Llave de acceso renombrada.").waitFor();
  assert.match(await page.locator("#passkey-list tr td").nth(1).textContent(), /^\d{1,2} de [a-z]+ de \d{4}, \d{2}:\d{2} \S+$/);
  assert.deepEqual(await englishOnScreen(page, "es"), []);
  await shot(page, "i18n-es-04-account");
  await page.setViewportSize({ width: 375, height: 740 });
  await noOverflow(page, "es /account");
  await shot(page, "i18n-es-04-account-375");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);
  await context.close();
});

test("the recipient's journey in German on a 375 px phone", async () => {
  const email = "jonas@patient.example";
  const body = "Sehr geehrter Herr Jonas,\n\nIhre Blutwerte vom 19. November sind unauffällig.\n";
  const [env] = ws.seal(message(email, "Ihre Befunde", body), { to: [email] });
  const context = await browser.newContext({ locale: "de-DE", extraHTTPHeaders: { "Accept-Language": "de-DE,de;q=0.9" }, viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const seen = watch(page, ws.base);

  await openFile(page, env.file);
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "de");
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await noOverflow(page, "de register");
  await shot(page, "i18n-de-01-register-375");

  await page.getByLabel("Vorname").fill("Jonas");
  await page.getByLabel("Nachname").fill("Müller-Lüdenscheidt");
  const before = ws.mailCount(email);
  await page.getByRole("button", { name: "Code zusenden" }).click();
  const mail = await mailTo(email, before);
  assert.match(mail.subject, /^Ihr Registrierungscode: \d{6}$/);
  assert.match(mail.body, /Der Code ist 10 Minuten lang gültig und kann einmal verwendet werden\./);
  await page.locator("#reg-code").fill(mail.code);
  await page.getByRole("button", { name: "Weiter" }).click();
  await page.locator("#register-choose").waitFor();
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await noOverflow(page, "de choose");
  await shot(page, "i18n-de-02-choose-375");

  // A password: too short first, refused in German.
  assert.match(await page.locator("label[for=reg-password]").textContent(), /^Passwort wählen \(mindestens 10 Zeichen\)$/);
  await page.locator("#reg-password").fill("kurz");
  await page.locator("#reg-password2").fill("kurz");
  await page.getByRole("button", { name: "Abschließen und Nachricht öffnen" }).click();
  await page.locator("#status.error").waitFor();
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await page.locator("#reg-password").fill(password);
  await page.locator("#reg-password2").fill(password);
  await page.getByRole("button", { name: "Abschließen und Nachricht öffnen" }).click();
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("#msg-text").textContent(), body);
  assert.match(await page.locator("#msg-date").textContent(), /^\d{1,2}\. November 2026, \d{2}:\d{2} \S+/);
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await noOverflow(page, "de message");
  await shot(page, "i18n-de-03-message-375");

  // The account page: the longest German labels on a phone.
  await page.goto(`${ws.base}/account`);
  await page.locator("#panel-password").waitFor();
  // The script fills the state once it has the account's passkeys.
  await page.locator("#password-state", { hasText: /^Sie haben ein Passwort\.$/ }).waitFor();
  assert.equal(await page.locator("#btn-password").textContent(), "Passwort ändern");
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await noOverflow(page, "de /account");
  await shot(page, "i18n-de-04-account-375");
  await page.setViewportSize({ width: 1280, height: 900 });
  await shot(page, "i18n-de-04-account-1280");

  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(seen.foreign, []);
  await context.close();
});

test("the switcher: Deutsch chosen before signing in is kept on the account, for pages and code mails", async () => {
  const email = "eva@patient.example";
  const body = "Dear Eva,\n\nyour results are fine.\n";
  const [env] = ws.seal(message(email, "Results", body), { to: [email], online: true });
  const english = { locale: "en-GB", extraHTTPHeaders: { "Accept-Language": "en-GB,en;q=0.9" } };

  // Eva registers in English.
  let context = await browser.newContext(english);
  let page = await context.newPage();
  await page.goto(env.online_url);
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  await page.getByLabel("First name").fill("Eva");
  await page.getByLabel("Last name").fill("Schmidt");
  let count = ws.mailCount(email);
  await page.getByRole("button", { name: "Send me a code" }).click();
  let mail = await mailTo(email, count);
  assert.match(mail.subject, /^Your registration code: \d{6}$/);
  await page.locator("#reg-code").fill(mail.code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByLabel("Choose a password").fill(password);
  await page.getByLabel("The same password again").fill(password);
  await page.getByRole("button", { name: "Finish and open the message" }).click();
  await page.locator("#panel-message").waitFor();
  await context.close();

  // Another day, the same English browser: she picks Deutsch before signing in.
  context = await browser.newContext(english);
  page = await context.newPage();
  await page.goto(env.online_url);
  await page.locator("#panel-signin").waitFor();
  await page.getByLabel("Language").selectOption({ label: "Deutsch" });
  await Promise.all([page.waitForURL(/\/e\/[0-9a-f]{32}$/), page.getByRole("button", { name: "Change" }).click()]);
  await page.locator("#panel-signin").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "de");
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await shot(page, "i18n-switch-01-signin-de");
  await page.locator("#signin-email").fill(email);
  await page.locator("#signin-password").fill(password);
  await page.getByRole("button", { name: "Anmelden", exact: true }).click();
  // The key stayed in the tab across the switch: the message opens.
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("#msg-text").textContent(), body);
  await context.close();

  // A new browser, English and without the cookie: signed in with an emailed
  // code, which comes in German, and the pages are German.
  context = await browser.newContext(english);
  page = await context.newPage();
  await page.goto(env.online_url);
  await page.locator("#panel-signin").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en", "signed out, the browser's language");
  await page.getByRole("button", { name: "Email me a sign-in code instead" }).click();
  await page.locator("#code-email").fill(email);
  count = ws.mailCount(email);
  await page.getByRole("button", { name: "Email me a code" }).click();
  mail = await mailTo(email, count);
  assert.match(mail.subject, /^Ihr Anmeldecode: \d{6}$/, "the code mail goes out in the account's language");
  assert.match(mail.body, /Der Code ist 10 Minuten lang gültig/);
  await page.locator("#code-code").fill(mail.code);
  await page.locator("#form-code-verify button[type=submit]").click();
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("#msg-text").textContent(), body);
  await page.reload();
  await page.locator("#panel-message").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "de", "signed in, the account's language");
  assert.deepEqual(await englishOnScreen(page, "de"), []);
  await page.goto(`${ws.base}/account`);
  await page.locator("#panel-password").waitFor();
  assert.equal(await page.locator("#account-h").textContent(), "Ihr Konto");
  await shot(page, "i18n-switch-02-account-de");
  await context.close();
});

test("the console in German: a sender's sent items and every administration page, at 1280 and 375 px", async () => {
  const german = { locale: "de-DE", extraHTTPHeaders: { "Accept-Language": "de" }, viewport: { width: 1280, height: 900 } };
  const from = "Greta Absenderin <greta@hospital.example>";
  ws.seal(message("karl@patient.example", "Ihre Röntgenbefunde", "Sehr geehrter Herr Karl,\n\nanbei.\n"), { to: ["karl@patient.example", "lena@patient.example"], from });

  // both checks a page at 1280 px and on a phone: German only (the audit
  // records' action codes aside: identifiers, the same in every language),
  // nothing wider than the window, a screenshot of each.
  const both = async (page, name) => {
    await shot(page, `${name}-1280`);
    assert.deepEqual(await englishOnScreen(page, "de", ["#dash-denials", "#trail-list code", "#audit-list code"]), [], name);
    await page.setViewportSize({ width: 375, height: 740 });
    await noOverflow(page, name);
    await shot(page, `${name}-375`);
    await page.setViewportSize({ width: 1280, height: 900 });
  };

  // A sender registers from Sent items, in German.
  const sctx = await browser.newContext(german);
  const sender = await sctx.newPage();
  await sender.goto(`${ws.base}/sent`);
  await sender.getByRole("button", { name: "Registrieren" }).click();
  await sender.getByLabel("Ihre dienstliche E-Mail-Adresse").fill("greta@hospital.example");
  await sender.locator("#staff-first").fill("Greta");
  await sender.locator("#staff-last").fill("Absenderin");
  const count = ws.mailCount("greta@hospital.example");
  await sender.locator("#form-staff-register").getByRole("button", { name: "Code senden" }).click();
  const mail = await mailTo("greta@hospital.example", count);
  assert.match(mail.subject, /^Ihr Registrierungscode: \d{6}$/);
  await sender.locator("#staff-code").fill(mail.code);
  await sender.getByRole("button", { name: "Weiter" }).click();
  await sender.getByRole("heading", { name: "Registrierung abschließen: Passkey oder Passwort hinzufügen" }).waitFor();
  await sender.locator("#new-password").fill(password);
  await sender.locator("#new-password2").fill(password);
  await sender.getByRole("button", { name: "Passwort festlegen" }).click();
  await sender.locator("#panel-sent").waitFor();
  await sender.getByText("Registrierung abgeschlossen. Hier erscheinen Ihre gesendeten Nachrichten.").waitFor();
  const head = sender.locator(".sent-head p.note").first();
  assert.match(await head.textContent(), /^Gesendet \d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}, \d{2}:\d{2} \S+ · 2 Empfänger/);
  assert.match(await sender.locator(".sent-rcpt .state").first().textContent(), /^Aktiv; nicht geöffnet; läuft ab /);
  await both(sender, "i18n-de-sent");
  // A recipient's actions, in German.
  await sender.locator(".sent-rcpt").first().getByRole("button", { name: "Sperren" }).click();
  await sender.getByLabel(/^Grund, den .* sieht$/).fill("Falscher Empfänger");
  await sender.locator(".inline-form").getByRole("button", { name: "Sperren" }).click();
  await sender.getByText(/^Die Nachricht an \S+ wurde gesperrt\.$/).waitFor();
  assert.match(await sender.locator(".sent-rcpt .state", { hasText: "Gesperrt" }).textContent(), /^Gesperrt: „Falscher Empfänger“; nicht geöffnet/);
  await sctx.close();

  // An administrator enrols in German and visits every page.
  const invite = JSON.parse(ws.admin("invite", "otto@hospital.example"));
  const actx = await browser.newContext(german);
  const page = await actx.newPage();
  await device(page);
  await page.goto(invite.link);
  await page.getByRole("heading", { name: "Administrator werden" }).waitFor();
  await both(page, "i18n-de-admin-enrol");
  await page.getByLabel("Vorname").fill("Otto");
  await page.getByLabel("Nachname").fill("Verwalter");
  await Promise.all([page.waitForURL(`${ws.base}/admin`), page.getByRole("button", { name: "Ihren Administrator-Passkey erstellen" }).click()]);
  await page.getByRole("link", { name: "Ihre Röntgenbefunde" }).first().waitFor();
  assert.match(await page.locator("#admin-count").textContent(), /^\d+ Nachrichten angezeigt\.$/);
  await both(page, "i18n-de-admin-messages");
  // The dry run counts in German.
  await page.locator("#bulk-sender").fill("greta@hospital.example");
  await page.getByRole("button", { name: "Zählen (Probelauf)" }).click();
  await page.locator("#bulk-result", { hasText: "2 Nachrichten passen; 2 würden widerrufen." }).waitFor();
  assert.equal(await page.locator("#bulk-run").textContent(), "2 Nachrichten widerrufen");

  await page.getByRole("link", { name: "Ihre Röntgenbefunde" }).first().click();
  // Its audit trail in German, each action's code beneath its name.
  await page.locator("#trail-list td", { hasText: "envelope.register" }).waitFor();
  await page.locator("#trail-list td", { hasText: "Nachricht verschlüsselt" }).first().waitFor();
  assert.match(await page.locator("#trail-list td", { hasText: "envelope.register" }).first().innerText(), /^Nachricht verschlüsselt\s+envelope\.register$/);
  await both(page, "i18n-de-admin-envelope");
  for (const [tab, ready] of [["accounts", "#accounts-list tr"], ["administrators", "#admins-list tr"], ["audit", "#audit-list tr"], ["dashboard", "#dash-days tr"]]) {
    await page.goto(`${ws.base}/admin/${tab}`);
    await page.locator(ready).first().waitFor();
    await both(page, `i18n-de-admin-${tab}`);
  }
  // The dashboard's days (UTC) as German writes a date.
  const today = new Intl.DateTimeFormat("de", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(new Date());
  assert.match(today, /^\d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}$/);
  assert.equal(await page.locator("#dash-days tr td").first().textContent(), today);
  await page.goto(`${ws.base}/admin/audit`);
  await page.getByRole("button", { name: "Kette prüfen" }).click();
  await page.locator("#verify-result", { hasText: /^Die Kette ist intakt: \d+ Einträge, jeder mit dem vorigen verknüpft\./ }).waitFor();
  await actx.close();
});

test("securedoc.html in the recipient's language, from file://: Spanish by default_language, German once the recipient saved it, at 375 and 1280 px", async () => {
  // An organisation whose default_language is Spanish, its gateway fed over SMTP.
  const org = await startWaxseal({ settings: { default_language: "es" } });
  const context = await browser.newContext({ locale: "de-DE", extraHTTPHeaders: { "Accept-Language": "de" }, viewport: { width: 1280, height: 900 } });
  try {
    const email = "lucia@paciente.example";
    // The first message's Date cannot be read: the decryptor says so, in the
    // reader's language.
    const send = (subject, date) => org.send(Buffer.from(message(email, `PHI: ${subject}`, "Estimada Lucía:\n\nsus resultados.\n").toString("utf8")
      .replace("Sun, 22 Nov 2026 09:00:00 +0000", date || "Sun, 22 Nov 2026 09:00:00 +0000")), { from: "alicia@hospital.example", to: [email] });
    // wrapperFor waits for the sink's wrapper mail to email with marker, and
    // saves its securedoc.html as a mail client would.
    const wrapperFor = async (marker, name) => {
      const dir = path.join(org.dir, "mail");
      for (let i = 0; i < 400; i++) {
        for (const f of readdirSync(dir).filter((n) => n.includes(email) && n.endsWith(".eml"))) {
          const mail = readFileSync(path.join(dir, f), "latin1");
          if (!mail.includes(marker) || !/filename="securedoc_/.test(mail)) continue;
          const boundary = /boundary="(waxseal-mixed-[^"]+)"/.exec(mail)[1];
          const p = mail.split(`--${boundary}`).find((x) => /filename="securedoc_[^"]+\.html"/.test(x));
          const file = path.join(org.dir, `${name}.html`);
          writeFileSync(file, p.slice(p.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, ""), "latin1");
          return file;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no wrapper mail to ${email} with ${marker}`);
    };
    // look checks the file as it shows before Open is pressed: its language,
    // a few of its words, no English sentence of the mail catalog, nothing
    // wider than a phone; screenshots at 1280 and 375 px.
    const look = async (page, file, lang, words, name) => {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`file://${file}`);
      assert.equal(await page.locator("html").getAttribute("lang"), lang);
      const text = await page.locator("body").innerText();
      for (const w of words) assert.ok(text.includes(w), `${name} lacks ${JSON.stringify(w)}:\n${text}`);
      const theirs = catalog(`mail.${lang}`);
      const english = Object.entries(catalog("mail.en")).filter(([id, s]) => id.startsWith("securedoc.") && !/\{/.test(s) && s.length >= 6 && theirs[id] !== s && text.includes(s));
      assert.deepEqual(english, [], name);
      await shot(page, `${name}-1280`);
      await page.setViewportSize({ width: 375, height: 740 });
      await noOverflow(page, name);
      await shot(page, `${name}-375`);
    };

    // No account yet: the organisation's Spanish, whatever the browser says.
    await send("Sus resultados", "el martes que viene");
    const esFile = await wrapperFor("Sus resultados", "lucia-es");
    const page = await context.newPage();
    const seen = watch(page, org.base);
    await look(page, esFile, "es", ["Ha recibido un mensaje seguro", "Asunto", "Abrir", "Este archivo nunca le pide su contraseña."], "i18n-securedoc-es");
    assert.equal(await page.getByRole("button", { name: "Abrir" }).count(), 1);

    // Lucía opens it in her German browser and registers: the key server
    // keeps German on her new account.
    await page.setViewportSize({ width: 1280, height: 900 });
    await openFile(page, esFile);
    await page.locator("#panel-register").waitFor();
    assert.equal(await page.locator("html").getAttribute("lang"), "de");
    await page.getByLabel("Vorname").fill("Lucía");
    await page.getByLabel("Nachname").fill("Fernández");
    const before = org.mailCount(email);
    await page.getByRole("button", { name: "Code zusenden" }).click();
    const dir = path.join(org.dir, "mail");
    let code;
    for (let i = 0; i < 200 && !code; i++) {
      const files = readdirSync(dir).filter((f) => f.includes(email)).sort();
      if (files.length > before) code = (/(\d{6})\s*$/m.exec(decodeWords((/^Subject: (.*)/m.exec(readFileSync(path.join(dir, files[files.length - 1]), "latin1")) || [])[1] || "")) || [])[1];
      if (!code) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(code, "no registration code");
    await page.locator("#reg-code").fill(code);
    await page.getByRole("button", { name: "Weiter" }).click();
    await page.locator("#register-choose").waitFor();
    await device(page);
    await page.getByRole("button", { name: "Passkey erstellen und Nachricht öffnen" }).click();
    await page.locator("#panel-message").waitFor();
    assert.equal(await page.locator("#msg-problems").textContent(), 'Das Datum "el martes que viene" konnte nicht gelesen werden.');
    assert.deepEqual(await englishOnScreen(page, "de"), []);
    await shot(page, "i18n-securedoc-de-problem");

    // The next message's securedoc.html is in her saved German, not the
    // organisation's Spanish.
    await send("Ihre Befunde");
    const deFile = await wrapperFor("Ihre Befunde", "lucia-de");
    await look(page, deFile, "de", ["Sie haben eine sichere Nachricht erhalten", "Betreff", "Öffnen", "Diese Datei fragt nie nach Ihrem Passwort."], "i18n-securedoc-de");
    assert.equal(await page.getByRole("button", { name: "Öffnen" }).count(), 1);
    assert.deepEqual(seen.dialogs, []);
  } finally {
    await context.close();
    await org.stop();
  }
});

test("the switcher on the page securedoc.html posted to: an English browser changes to Español and the open goes on, at 375 px", async () => {
  const email = "lucia@paciente.example";
  const [env] = ws.seal(message(email, "Sus resultados", "Hola Lucía.\n"), { to: [email] });
  const context = await browser.newContext({ locale: "en-GB", extraHTTPHeaders: { "Accept-Language": "en-GB,en;q=0.9" }, viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  await openFile(page, env.file);
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  await page.getByLabel("Language").selectOption({ label: "Español" });
  await Promise.all([page.waitForURL(new RegExp(`/open/${env.id}$`)), page.getByRole("button", { name: "Change" }).click()]);
  // The same open, now in Spanish: the envelope held for the page and k_env
  // come from the tab's storage; nothing asks for the link again.
  await page.locator("#panel-register").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "es");
  assert.equal(await page.locator("#sum-subject").textContent(), "Sus resultados");
  assert.equal(await page.locator("#panel-refused").isVisible(), false);
  assert.deepEqual(await englishOnScreen(page, "es"), []);
  await noOverflow(page, "switched to es, 375 px");
  await shot(page, "i18n-switch-posted-es-375");
  await context.close();
});

test("the switcher on a posted page the key server holds nothing for: the fields are posted again, in the new language", async () => {
  const noHold = await startWaxseal({ limits: { posted_hold_mb: -1 } });
  try {
    const email = "mateo@paciente.example";
    const [env] = noHold.seal(message(email, "Sus resultados", "Hola Mateo.\n"), { to: [email] });
    const context = await browser.newContext({ locale: "en-GB", extraHTTPHeaders: { "Accept-Language": "en-GB,en;q=0.9" }, viewport: { width: 375, height: 740 } });
    const page = await context.newPage();
    const seen = watch(page, noHold.base);
    await openFile(page, env.file);
    await page.locator("#panel-register").waitFor();
    assert.equal(await page.locator("#f-payload").count(), 1, "the page carries the fields (no hold)");
    await page.getByLabel("Language").selectOption({ label: "Español" });
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.url() === `${noHold.base}/open/${env.id}`),
      page.getByRole("button", { name: "Change" }).click(),
    ]);
    await page.locator("html[lang=es] #panel-register").waitFor();
    assert.equal(await page.locator("#sum-subject").textContent(), "Sus resultados");
    assert.equal(await page.locator("#f-payload").count(), 1);
    assert.equal(await page.locator("#panel-refused").isVisible(), false);
    assert.deepEqual(await englishOnScreen(page, "es"), []);
    await shot(page, "i18n-switch-fields-es-375");
    assert.deepEqual(seen.dialogs, []);
    await context.close();
  } finally {
    await noHold.stop();
  }
});
