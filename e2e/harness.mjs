// The browser test harness: a real waxseal (`waxseal serve --dev`) on a free
// localhost port with its directory mail sink, the real `waxseal seal` command, and
// Debian's Chromium driven by playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
export const bin = process.env.WAXSEAL_BIN || path.join(root, "bin", "waxseal");
export const shots = path.join(root, "build", "screenshots");
mkdirSync(shots, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// serve runs `waxseal serve --dev` in dir and resolves with the process once it
// is ready.
async function serve(dir, port) {
  const proc = spawn(bin, ["serve", "--dev", "--dir", dir, "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => { out += d; });
  proc.stderr.on("data", (d) => { out += d; });
  for (let i = 0; i < 200 && !out.includes("Press Ctrl-C"); i++) await sleep(50);
  if (!out.includes("Press Ctrl-C")) throw new Error(`waxseal did not start:\n${out}`);
  proc.out = () => out;
  return proc;
}

// startWaxseal runs `waxseal serve --dev` and resolves when it is ready. limits
// are [limits] settings to write into the development config, settings others
// that the config already has a line for (it restarts once to take them).
export async function startWaxseal({ limits, settings } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "waxseal-e2e-"));
  let proc = await serve(dir, port);
  if (limits || settings) {
    await new Promise((r) => { proc.on("exit", r); proc.kill("SIGINT"); });
    const cfg = path.join(dir, "waxseal.toml");
    let text = readFileSync(cfg, "utf8");
    for (const [k, v] of Object.entries(settings || {})) {
      const set = new RegExp(`^\\s*${k} = .*$`, "m");
      if (!set.test(text)) throw new Error(`the development config has no ${k} line`);
      text = text.replace(set, `${k} = ${JSON.stringify(v)}`);
    }
    for (const [k, v] of Object.entries(limits || {})) {
      const line = `${k} = ${JSON.stringify(v)}`;
      const set = new RegExp(`^\\s*${k} = .*$`, "m");
      text = set.test(text) ? text.replace(set, line) : text.replace("[limits]\n", `[limits]\n${line}\n`);
    }
    writeFileSync(cfg, text);
    proc = await serve(dir, port);
  }
  const tokens = Object.fromEntries(readFileSync(path.join(dir, "dev-tokens.txt"), "utf8")
    .split("\n").filter((l) => l.includes(": ")).map((l) => l.split(": ")));
  const base = `http://localhost:${port}`;
  const smtp = /SMTP gateway: (\S+)/.exec(proc.out?.() || "")?.[1];
  return {
    base, dir, tokens, proc, smtp,
    // send submits a message to the development gateway over SMTP, as a mail
    // client of the organisation would.
    send: (message, { from, to }) => smtpSend(smtp, from, to, message),
    stop: () => new Promise((r) => { proc.on("exit", r); proc.kill("SIGINT"); }),
    // seal runs the real `waxseal seal` and returns its JSON lines.
    seal(message, { from = "Dr. Alice Example <alice@hospital.example>", to = ["bob@patient.example"], online = false, subject } = {}) {
      const out = path.join(dir, "out");
      const args = ["seal", "--keyserver", base, "--token", tokens.gateway_token, "--from", from, "--out", out];
      for (const t of to) args.push("--to", t);
      if (online) args.push("--online");
      if (subject) args.push("--subject", subject);
      const stdout = execFileSync(bin, args, { input: message, maxBuffer: 1 << 26 });
      return stdout.toString().trim().split("\n").map((l) => JSON.parse(l));
    },
    admin(...args) {
      return execFileSync(bin, ["admin", "--keyserver", base, "--token", tokens.admin_token, ...args]).toString();
    },
    // code waits for the newest code mailed to an address, as a person reads it.
    async code(email, after = 0) {
      const mail = path.join(dir, "mail");
      for (let i = 0; i < 200; i++) {
        const files = readdirSync(mail).filter((f) => f.includes(email)).sort();
        if (files.length > after) {
          const text = readFileSync(path.join(mail, files[files.length - 1]), "utf8");
          const m = /code: (\d{6})/.exec(text);
          if (m) return { code: m[1], count: files.length };
        }
        await sleep(50);
      }
      throw new Error(`no code mailed to ${email}`);
    },
    mailCount(email) {
      return readdirSync(path.join(dir, "mail")).filter((f) => f.includes(email)).length;
    },
  };
}

// smtpSend speaks just enough SMTP to submit one message to addr (host:port).
export function smtpSend(addr, from, to, message) {
  if (!addr) return Promise.reject(new Error("no SMTP gateway address"));
  const i = addr.lastIndexOf(":");
  const sock = connect(Number(addr.slice(i + 1)), addr.slice(0, i));
  let buf = "";
  const waiters = [];
  sock.setEncoding("latin1");
  sock.on("data", (d) => {
    buf += d;
    for (;;) {
      // A reply ends with a line "NNN text" (not "NNN-text").
      const m = /^(?:\d{3}-[^\n]*\n)*(\d{3})(?: [^\n]*)?\r?\n/.exec(buf);
      if (!m || !waiters.length) break;
      buf = buf.slice(m[0].length);
      waiters.shift()({ code: Number(m[1]), text: m[0] });
    }
  });
  const reply = () => new Promise((resolve) => waiters.push(resolve));
  const step = async (line, want) => {
    if (line !== null) sock.write(Buffer.from(line, "latin1"));
    const r = await reply();
    if (Math.floor(r.code / 100) !== want) throw new Error(`SMTP ${JSON.stringify(line)}: ${r.text}`);
    return r;
  };
  return (async () => {
    try {
      await new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
      await step(null, 2);
      await step("EHLO e2e.test\r\n", 2);
      await step(`MAIL FROM:<${from}>\r\n`, 2);
      for (const r of to) await step(`RCPT TO:<${r}>\r\n`, 2);
      await step("DATA\r\n", 3);
      const body = Buffer.from(message).toString("latin1").replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
      await step(`${body}${body.endsWith("\r\n") ? "" : "\r\n"}.\r\n`, 2);
      await step("QUIT\r\n", 2);
    } finally {
      sock.destroy();
    }
  })();
}

function chromiumPath() {
  for (const p of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (p) try { execFileSync(p, ["--version"]); return p; } catch { /* next */ }
  }
  throw new Error("Chromium not found: apt-get install chromium");
}

const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function launch() {
  return chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs });
}

// launchProfile starts a Chromium with a fresh profile on disk, as a person's
// browser keeps one (launch's contexts are off the record: an in-memory cache,
// no code cache), and resolves with its context; closing it ends the browser.
export async function launchProfile() {
  const dir = mkdtempSync(path.join(tmpdir(), "waxseal-profile-"));
  const context = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: chromiumArgs });
  // The profile goes once the browser has closed (it writes to it until then).
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  return context;
}

// startWithBrowser starts what a browser test file needs: a server (start
// resolves with it; a waxseal with the defaults unless given) and a Chromium.
// It resolves with { server, browser, stop }; stop closes the browser, then
// the server, and does nothing for what did not start.
export async function startWithBrowser(start = () => startWaxseal()) {
  let server, browser;
  const stop = async () => {
    await browser?.close();
    await server?.stop();
  };
  try {
    server = await start();
    browser = await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, browser, stop };
}

// watch records what a page does that it must not: dialogs, and requests to
// anywhere but the key server (and its own file:// start page) that got an answer.
// (Chromium may announce a request that its Content-Security-Policy then blocks;
// only a response means something left the browser.)
export function watch(page, base) {
  const seen = { dialogs: [], foreign: [], blocked: [], console: [] };
  const foreign = (u) => !u.startsWith(base) && !u.startsWith("file:") && !u.startsWith("data:") && !u.startsWith("blob:") && !u.startsWith("about:");
  page.on("dialog", (d) => { seen.dialogs.push(d.message()); d.dismiss(); });
  page.on("response", (r) => { if (foreign(r.url())) seen.foreign.push(r.url()); });
  page.on("requestfailed", (r) => { if (foreign(r.url())) seen.blocked.push(`${r.url()} ${r.failure()?.errorText}`); });
  page.on("console", (m) => seen.console.push(m.text()));
  return seen;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

export function writeJSON(name, value) {
  writeFileSync(path.join(root, "build", name), JSON.stringify(value, null, 2));
}

// passkeyDevice gives page a platform passkey authenticator with user
// verification (a CDP virtual authenticator, one per page: a "device"), and
// returns { credentials() } to see the passkeys it holds.
export async function passkeyDevice(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials };
}
