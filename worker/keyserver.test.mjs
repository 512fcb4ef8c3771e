// The key server's API journey against the Worker under wrangler dev --local,
// with the real `waxseal seal`, `waxseal gateway` (draining the Worker's
// outbox into a mail sink) and `waxseal admin`: a 10 MB message sealed online,
// its ciphertext stored in R2 and served back byte-exact; a recipient registers
// with the emailed code, signs in with another, adds a passkey (a software one),
// releases the key and opens the message; an administrator revokes it and the
// next release is refused at once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { apiClient, bin, request, startInstallation } from "./install.mjs";
import { softPasskey } from "./softauthn.mjs";

let inst;
before(async () => {
  inst = await startInstallation({ extraArgs: ["--test-scheduled"] });
});
after(async () => {
  await inst?.stop();
});

const client = () => apiClient(inst.url);

// bigMessage is an email of about 10 MB that does not compress.
function bigMessage() {
  const body = randomBytes(7_600_000).toString("base64").replace(/.{76}/g, "$&\r\n");
  return Buffer.from(
    "From: Dr. Alice Example <alice@hospital.example>\r\nTo: bob@patient.example\r\n" +
      "Subject: Scan results\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + body + "\r\n",
  );
}

// onlineBlob builds the "open online" blob (docs/FORMAT.md §8) from the
// fields a securedoc.html carries: what the Worker must serve, byte for byte.
function onlineBlob(html) {
  const field = (name) => {
    const m = new RegExp(`name="${name}" value="([A-Za-z0-9+/=\\s]*)"`).exec(html);
    assert.ok(m, `securedoc.html has no ${name} field`);
    return Buffer.from(m[1].replace(/\s/g, ""), "base64");
  };
  const header = field("header");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([Buffer.from("waxseal-online-v1\n"), len, header, field("key"), field("payload")]);
}

test("password routes answer 403: this server does not use passwords", async () => {
  const call = client();
  for (const route of ["/api/v1/signin/password", "/api/v1/password/forgot", "/api/v1/password/reset", "/api/v1/account/password"]) {
    const res = await call("POST", route, { email: "bob@patient.example", password: "correct horse battery" });
    assert.equal(res.status, 403, route);
    assert.equal(res.json.error, "forbidden");
    assert.match(res.json.message, /^this server does not use passwords/);
  }
});

test("the Worker's pages offer no passwords", async () => {
  for (const path of [`/e/${"a".repeat(32)}`, "/account"]) {
    const res = await request(inst.url + path);
    assert.equal(res.status, 200, path);
    const html = res.body.toString();
    assert.doesNotMatch(html, /type="password"|id="form-signin"|panel-forgot|id="panel-password"/, path);
    assert.match(html, /id="btn-passkey-signin"/, path);
    assert.match(html, /id="form-code-start"/, path);
  }
});

// The scripts, styles and decryptor are the Worker's static assets: served
// without the Go program (whose build holds no decryptor), with the hashed
// names, integrity and caching the pages expect, byte for byte what
// `waxseal serve` would serve (checked by the real `waxseal admin check-assets`).
test("static files are the Worker's static assets, as waxseal serve would serve them", async () => {
  const page = (await request(inst.url + "/open/00000000000000000000000000000000")).body.toString();
  const [, decryptor, integrity] = /data-wasm="(\/static\/waxseal\.[0-9a-f]{12}\.wasm)" data-wasm-integrity="(sha384-[^"]+)"/.exec(page) ?? [];
  assert.ok(decryptor, "the open page names no decryptor");
  const res = await request(inst.url + decryptor);
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "application/wasm");
  assert.equal(res.headers["cache-control"], "public, max-age=31536000, immutable");
  assert.equal(res.headers["x-content-type-options"], "nosniff");
  assert.match(res.headers["content-security-policy"], /^default-src 'none'/);
  assert.equal(res.headers["referrer-policy"], "no-referrer");
  assert.equal(`sha384-${createHash("sha384").update(res.body).digest("base64")}`, integrity);
  assert.equal((await request(inst.url + "/static/waxseal.000000000000.wasm")).status, 404);
  const out = execFileSync(bin, ["admin", "check-assets", inst.url]).toString();
  assert.match(out, /^ok {7}waxseal\.wasm \(identity\): /m);
  assert.doesNotMatch(out, /MISMATCH/);
});

test("seal online, register and sign in by emailed code, release, revoke", { timeout: 180_000 }, async () => {
  const message = bigMessage();
  const [env] = inst.seal(message, { online: true });
  assert.match(env.online_url, new RegExp(`^${inst.url}/e/${env.id}#k=`));
  const html = readFileSync(env.file, "latin1");

  // The ciphertext went to R2; the Worker serves head + ciphertext exactly.
  const res = await request(`${inst.url}/api/v1/envelopes/${env.id}/payload`);
  assert.equal(res.status, 200);
  const served = res.body;
  const want = onlineBlob(html);
  assert.ok(want.length > 10_000_000, `the blob is ${want.length} bytes`);
  assert.equal(served.length, want.length);
  assert.ok(served.equals(want), "the served blob differs from the sealed envelope's");

  const call = client();
  let st = await call("GET", `/api/v1/envelopes/${env.id}/status`);
  assert.equal(st.status, 200);
  assert.equal(st.json.state, "open");
  assert.equal(st.json.recipient_has_account, false);

  // Register: the code comes through the outbox, the gateway and the sink.
  let r = await call("POST", "/api/v1/register/start", { envelope_id: env.id, first_name: "Bob", last_name: "Patient" });
  assert.equal(r.status, 202, r.text);
  let mail = await inst.code("bob@patient.example");
  r = await call("POST", "/api/v1/register/verify", { envelope_id: env.id, code: mail.code });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.setup, true);
  // A registration in setup releases nothing yet.
  r = await call("POST", `/api/v1/envelopes/${env.id}/key`);
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.error, "setup_required");

  // Sign in afresh with an emailed code.
  const bob = client();
  r = await bob("POST", "/api/v1/signin/code", { email: "bob@patient.example" });
  assert.equal(r.status, 202, r.text);
  mail = await inst.code("bob@patient.example", mail.next);
  r = await bob("POST", "/api/v1/signin/code/verify", { email: "bob@patient.example", code: mail.code });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.method, "code");
  // No password here and no passkey yet: the account is still in setup, and
  // finishes it with a passkey (a software one: docs/API.md, Passkeys).
  assert.equal(r.json.setup, true);
  r = await bob("POST", "/api/v1/account/passkeys/begin");
  assert.equal(r.status, 200, r.text);
  const credential = softPasskey(inst.url).create(r.json.options);
  r = await bob("POST", "/api/v1/account/passkeys/finish", { ceremony: r.json.ceremony, credential, name: "test key" });
  assert.equal(r.status, 201, r.text);
  r = await bob("GET", "/api/v1/session");
  assert.equal(r.json.setup, false);

  r = await bob("POST", `/api/v1/envelopes/${env.id}/key`);
  assert.equal(r.status, 200, r.text);
  const opened = execFileSync(bin, ["open", "--server-key", r.json.server_key, env.file], { maxBuffer: 1 << 26 });
  assert.ok(opened.equals(message), "the opened message differs from the one sealed");

  // Revoked through `waxseal admin`: the very next release is refused.
  inst.admin("revoke", env.id);
  r = await bob("POST", `/api/v1/envelopes/${env.id}/key`);
  assert.equal(r.status, 410, r.text);
  assert.equal(r.json.error, "revoked");
  st = await call("GET", `/api/v1/envelopes/${env.id}/status`);
  assert.equal(st.json.state, "revoked");
  const gone = await request(`${inst.url}/api/v1/envelopes/${env.id}/payload`);
  assert.equal(gone.status, 404);
});

test("the Cron Trigger sweeps an expired envelope", { timeout: 120_000 }, async () => {
  const message = "From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: Soon gone\r\n\r\nHello\r\n";
  const [env] = inst.seal(message, { online: true, expires: "1s" });
  const audit = async () => {
    const res = await request(`${inst.url}/api/v1/admin/audit/search?envelope=${env.id}&action=envelope.expire`, {
      headers: { Authorization: `Bearer ${inst.tokens.admin_token}` },
    });
    assert.equal(res.status, 200, res.body.toString());
    return JSON.parse(res.body).records;
  };
  // The expiry is a time: the envelope reads as expired once it has passed
  // (waited for here, polling), but its key and payload stay until a sweep.
  for (;;) {
    const st = JSON.parse((await request(`${inst.url}/api/v1/envelopes/${env.id}/status`)).body);
    if (st.state === "expired") break;
    assert.equal(st.state, "open");
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(await audit(), []);
  assert.equal((await request(`${inst.url}/api/v1/envelopes/${env.id}/payload`)).status, 200);

  // wrangler dev --test-scheduled runs the scheduled handler on /__scheduled.
  const res = await request(`${inst.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`);
  assert.equal(res.status, 200, res.body.toString());
  const swept = await audit();
  assert.equal(swept.length, 1, JSON.stringify(swept));
  assert.equal(swept[0].actor, "system");
  assert.equal(swept[0].detail, "expiry reached");
  assert.equal((await request(`${inst.url}/api/v1/envelopes/${env.id}/payload`)).status, 404);
});
