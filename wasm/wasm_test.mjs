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
  const covered = new Set();
  for (const name of readdirSync(vectors)) {
    const v = readVector(name);
    if (v.expect === "success") continue;
    assert.ok(want[v.expect], `${name}: unknown expect ${v.expect}`);
    await assert.rejects(globalThis.waxseal.open(v.file, "", v["server key"]), want[v.expect], name);
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
