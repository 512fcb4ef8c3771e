// node --test envelope/conformance/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { openEnvelope, secretboxOpen, secretboxSeal } from './reader.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const vectorDir = path.join(here, '..', 'testdata', 'vectors');

// §12 expect values -> the failure named in §5-§7 (the table in §12).
const EXPECT = {
  'wrong key': /\bwrong key\b/,
  'header modified': /\bheader (was )?modified\b/,
  'chunk out of order': /\bchunk out of order\b/,
  'chunk modified': /\bchunk modified\b/,
  'truncated': /\btruncated\b/,
  'appended': /\bappended\b/,
  'last flag missing': /\blast chunk is not marked as last\b/,
  'last flag early': /\bchunk marked as last before the end\b/,
  'bad base64': /\bbad base64\b|\bnot valid base64\b/,
  'not an envelope': /\bnot a waxseal envelope\b/,
  'unsupported version': /\bunsupported envelope version\b/,
  'malformed': /\bmalformed envelope\b/,
};
const ALL_EXPECTS = ['success', ...Object.keys(EXPECT)];

function parseVector(file) {
  const raw = readFileSync(file);
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  assert.ok(m, `${file}: no blank line after the name: value lines`);
  const meta = {};
  for (const line of text.slice(0, m.index).split(/\r?\n/)) {
    const c = line.indexOf(':');
    assert.ok(c > 0, `${file}: bad meta line ${JSON.stringify(line)}`);
    meta[line.slice(0, c).trim()] = line.slice(c + 1).trim();
  }
  return { meta, html: new Uint8Array(raw.subarray(m.index + m[0].length)) };
}

const files = readdirSync(vectorDir).filter((f) => f.endsWith('.txt')).sort();
const seen = new Set();

for (const f of files) {
  const { meta, html } = parseVector(path.join(vectorDir, f));
  const expect = meta.expect;
  seen.add(expect);
  test(`vector ${f} (expect: ${expect})`, () => {
    assert.ok(ALL_EXPECTS.includes(expect), `unknown expect value ${JSON.stringify(expect)}`);
    assert.ok(meta['server key'], 'vector has no server key line');
    if (expect === 'success') {
      const { header, headerBytes, message, online } = openEnvelope(html, meta['server key']);
      assert.equal(online, meta.online === 'yes', 'online (§7.5)');
      assert.equal(createHash('sha256').update(message).digest('hex'), meta['payload sha256']);
      assert.equal(message.length, header.size);
      assert.ok(headerBytes instanceof Uint8Array);
      return;
    }
    let err;
    assert.throws(() => openEnvelope(html, meta['server key']), (e) => { err = e; return e instanceof Error; });
    assert.match(err.message, EXPECT[expect]);
    // The error must name exactly one failure class.
    const matching = Object.entries(EXPECT).filter(([, re]) => re.test(err.message)).map(([k]) => k);
    assert.deepEqual(matching, [expect], `error ${JSON.stringify(err.message)} matches ${matching.join(', ')}`);
  });
}

test('vectors cover every expect value of §12', () => {
  assert.deepEqual([...seen].sort(), [...ALL_EXPECTS].sort());
  assert.ok(files.some((f) => parseVector(path.join(vectorDir, f)).meta.online === 'yes'), 'no vector is online (§7.5)');
});

// ---- secretbox known answer: NaCl tests/secretbox.c (firstkey, nonce, m -> c).
const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const FIRSTKEY = hex('1b27556473e985d462cd51197a9a46c760 09549eac6474f206c4ee0844f68389');
const NONCE = hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37');
const M = hex(`be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a
  1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a
  024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864 5e0705`);
const BOX = hex(`f3ffc7703f9400e52a7dfb4b3d3305d9
  8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972
  71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da
  99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5`);

test('secretbox known answer (NaCl tests/secretbox.c)', () => {
  assert.equal(M.length, 131);
  assert.deepEqual(secretboxSeal(FIRSTKEY, NONCE, M), BOX);
  assert.deepEqual(secretboxOpen(FIRSTKEY, NONCE, BOX), M);
  const bad = BOX.slice(); bad[20] ^= 1;
  assert.equal(secretboxOpen(FIRSTKEY, NONCE, bad), null);
});

test('secretbox round trip at assorted lengths', () => {
  for (const len of [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 65536]) {
    const k = randomBytes(32), n = randomBytes(24), m = randomBytes(len);
    const box = secretboxSeal(k, n, m);
    assert.equal(box.length, len + 16);
    assert.deepEqual(Buffer.from(secretboxOpen(k, n, box)), m);
  }
});
