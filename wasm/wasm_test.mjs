// Tests of the browser decryptor's JavaScript API, run under Node against the
// built module: make wasm && node --test wasm/
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..");
const vectors = path.join(root, "envelope", "testdata", "vectors");

// readVector splits a test vector into its "name: value" lines and the file.
function readVector(name) {
  const data = readFileSync(path.join(vectors, name));
  const cut = data.indexOf("\n\n");
  const fields = {};
  for (const line of data.subarray(0, cut).toString().split("\n")) {
    const i = line.indexOf(": ");
    fields[line.slice(0, i)] = line.slice(i + 2);
  }
  return { ...fields, file: new Uint8Array(data.subarray(cut + 2)) };
}

before(async () => {
  createRequire(import.meta.url)(path.join(root, "assets", "web", "static", "wasm_exec.js"));
  const go = new globalThis.Go();
  const ready = new Promise((resolve) => { globalThis.waxsealReady = resolve; });
  const { instance } = await WebAssembly.instantiate(
    readFileSync(path.join(root, "assets", "web", "static", "waxseal.wasm")), go.importObject);
  go.run(instance);
  await ready;
});

test("opens every success vector to the exact bytes", async () => {
  const names = readdirSync(vectors).filter((n) => readVector(n).expect === "success");
  assert.ok(names.length >= 2);
  for (const name of names) {
    const v = readVector(name);
    const { header, original, decryptMs } = await globalThis.waxseal.open(v.file, "", v["server key"]);
    assert.equal(createHash("sha256").update(original).digest("hex"), v["payload sha256"], name);
    assert.equal(header.to, "bob@patient.example");
    assert.equal(typeof decryptMs, "number");
  }
});

test("rejects each tampered vector with its own error", async () => {
  const want = {
    "wrong key": /wrong key/,
    "header modified": /header was modified/,
    "chunk out of order": /out of order/,
    "chunk modified": /chunk modified/,
    "truncated": /truncated/,
    "appended": /appended/,
    "last flag missing": /not marked as last/,
    "last flag early": /marked as last before the end/,
    "bad base64": /not valid base64/,
    "not an envelope": /not a waxseal envelope/,
    "unsupported version": /unsupported envelope version/,
    "malformed": /malformed envelope/,
  };
  const codes = {
    "wrong key": "wrong_key", "header modified": "modified", "chunk out of order": "modified", "chunk modified": "modified",
    "truncated": "truncated", "appended": "modified", "last flag missing": "truncated", "last flag early": "modified",
    "bad base64": "malformed", "not an envelope": "not_envelope", "unsupported version": "version", "malformed": "malformed",
  };
  const covered = new Set();
  for (const name of readdirSync(vectors)) {
    const v = readVector(name);
    if (v.expect === "success") continue;
    assert.ok(want[v.expect], `${name}: unknown expect ${v.expect}`);
    await assert.rejects(globalThis.waxseal.open(v.file, "", v["server key"]), want[v.expect], name);
    // The page says why from its catalog by the Error's code.
    const err = await globalThis.waxseal.open(v.file, "", v["server key"]).catch((e) => e);
    assert.equal(err.code, codes[v.expect], name);
    covered.add(v.expect);
  }
  assert.deepEqual([...covered].sort(), Object.keys(want).sort());
});

test("openForm opens the fields the envelope's form posts", async () => {
  const v = readVector("success-short.txt");
  const html = Buffer.from(v.file).toString("latin1");
  const field = (n) => html.split(`<input type="hidden" name="${n}" value="`)[1].split('">')[0];
  const envKey = html.match(/#k=([A-Za-z0-9_-]{43})"/)[1];
  const { original, message } = await globalThis.waxseal.openForm(
    { header: field("header"), key: field("key"), payload: field("payload") }, envKey, v["server key"]);
  assert.equal(createHash("sha256").update(original).digest("hex"), v["payload sha256"]);
  // The decrypted mail, read for display.
  assert.equal(message.subject, "results");
  assert.equal(message.from[0].email, "alice@hospital.example");
  assert.match(message.text, /Hello Bob\./);
  await assert.rejects(globalThis.waxseal.openForm(
    { header: field("header"), key: field("key"), payload: field("payload") }, envKey, "AAAA"), /malformed key/);
});

test("inspect shows the header and bad arguments reject", async () => {
  const v = readVector("success-short.txt");
  const h = await globalThis.waxseal.inspect(v.file);
  assert.equal(h.v, 1);
  assert.match(h.id, /^[0-9a-f]{32}$/);
  await assert.rejects(globalThis.waxseal.open("not bytes", "", v["server key"]), /want a Uint8Array/);
  await assert.rejects(globalThis.waxseal.open(v.file, ""), /serverKey: want a string/);
  await assert.rejects(globalThis.waxseal.open(v.file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", v["server key"]), /envKey: not the key in this file/);
});

test("sealReply seals a reply that an independent reader opens to the draft", async () => {
  const { openReply } = await import("../envelope/conformance/reader.mjs");
  const { generateKeyPairSync } = await import("node:crypto");
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const priv = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64url");
  const pdf = new Uint8Array(200_001).map((_, i) => (i * 7919) & 255);
  const sealed = await globalThis.waxseal.sealReply({
    subject: "Re: Ihre Befunde",
    text: "Danke.\nSiehe Anhang.",
    attribution: "On 3 Dec 2026, Dr Jones wrote:",
    quote: "Your results are fine.",
    attachments: [{ name: "Befund März.pdf", contentType: "application/pdf", data: pdf }],
  }, pub);
  assert.ok(sealed instanceof Uint8Array);
  assert.equal(Buffer.from(sealed.subarray(0, 4)).toString("latin1"), "wxr\x01");
  const msg = Buffer.from(openReply(sealed, [new Uint8Array(priv)])).toString("latin1");
  assert.match(msg, /^MIME-Version: 1\.0\r\nSubject: Re: Ihre Befunde\r\n/);
  assert.match(msg, /filename\*=utf-8''Befund%20M%C3%A4rz\.pdf/);
  const b64 = msg.split("\r\n\r\n")[3].split("\r\n--")[0].replace(/\r\n/g, "");
  assert.deepEqual(new Uint8Array(Buffer.from(b64, "base64")), pdf);
  const again = await globalThis.waxseal.sealReply({ text: "x" }, pub);
  assert.notDeepEqual(again.subarray(4, 36), sealed.subarray(4, 36), "a fresh ephemeral key each time");
  await assert.rejects(globalThis.waxseal.sealReply({ text: "x" }, "short"), /replyPublicKey/);
  await assert.rejects(globalThis.waxseal.sealReply("text", pub), /draft: want an object/);
  await assert.rejects(globalThis.waxseal.sealReply({ attachments: [{ name: "big", data: new Uint8Array(11 << 20) }] }, pub), /10 MiB/);
});

test("sealReply with the envelope's keys also wraps the reply's key for the recipient's copy, which openReplyCopy and the independent reader open", async () => {
  const { openReply, openReplyCopy } = await import("../envelope/conformance/reader.mjs");
  const { generateKeyPairSync, randomBytes } = await import("node:crypto");
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const priv = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64url");
  const keys = { id: randomBytes(16).toString("hex"), envKey: randomBytes(32).toString("base64url"), serverKey: randomBytes(32).toString("base64url") };
  const data = new Uint8Array(70_001).map((_, i) => (i * 31) & 255);
  const out = await globalThis.waxseal.sealReply({ subject: "Re: results", text: "copy-canary", attachments: [{ name: "q.pdf", contentType: "application/pdf", data }] }, pub, keys);
  assert.equal(Buffer.from(out.copyKey.subarray(0, 4)).toString("latin1"), "wxk\x01");
  assert.equal(out.copyKey.length, 108);
  // The copy, as the key server hands it back: the wrap, then the reply.
  const copy = new Uint8Array([...out.copyKey, ...out.reply]);
  const sent = openReply(out.reply, [new Uint8Array(priv)]);
  assert.deepEqual(openReplyCopy(copy, keys.id, keys.envKey, keys.serverKey), sent);
  const shown = await globalThis.waxseal.openReplyCopy(copy, keys);
  assert.deepEqual(shown.original, sent);
  assert.equal(shown.message.subject, "Re: results");
  assert.match(shown.message.text, /copy-canary/);
  assert.equal(shown.message.attachments[0].filename, "q.pdf");
  assert.deepEqual(shown.message.attachments[0].data, data);
  // Another envelope's keys, or a changed byte, open nothing.
  await assert.rejects(globalThis.waxseal.openReplyCopy(copy, { ...keys, envKey: keys.serverKey }), /reply copy does not open/);
  const bad = copy.slice();
  bad[bad.length - 1] ^= 1;
  await assert.rejects(globalThis.waxseal.openReplyCopy(bad, keys), /reply copy does not open/);
  await assert.rejects(globalThis.waxseal.openReplyCopy(out.reply, keys), /not a waxseal reply copy/);
  await assert.rejects(globalThis.waxseal.sealReply({ text: "x" }, pub, { ...keys, id: "nothex" }), /copyKeys\.id/);
});

test("sealReply with a 7.5 MB attachment: time against WebCrypto AES-GCM over the same bytes", async () => {
  const { generateKeyPairSync } = await import("node:crypto");
  const { publicKey } = generateKeyPairSync("x25519");
  const pub = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64url");
  const data = new Uint8Array(7_500_000).map((_, i) => i & 255);
  const t0 = performance.now();
  const sealed = await globalThis.waxseal.sealReply({ text: "see attached", attachments: [{ name: "scan.pdf", data }] }, pub);
  const sealMs = performance.now() - t0;
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  const t1 = performance.now();
  await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, key, data);
  const aesMs = performance.now() - t1;
  assert.ok(sealed.length > data.length * 4 / 3);
  console.log(`sealReply 7.5 MB: ${sealMs.toFixed(0)} ms; AES-GCM ${aesMs.toFixed(1)} ms; ratio ${(sealMs / aesMs).toFixed(1)}`);
});
