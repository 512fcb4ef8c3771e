// node --test envelope/conformance/: Reply v1 vectors (FORMAT.md "Reply v1").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { blake2b, openReply, REPLY_ERR } from './reader.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, '..', 'testdata', 'reply');

const EXPECT = {
  'not opened': REPLY_ERR.NOT_OPENED,
  'not a reply': REPLY_ERR.NOT_REPLY,
  'unsupported version': REPLY_ERR.UNSUPPORTED,
};

function b64url(s) { return new Uint8Array(Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64')); }

function parse(file) {
  const text = readFileSync(file, 'latin1');
  const cut = text.indexOf('\n\n');
  assert.ok(cut > 0, `${file}: no blank line`);
  const meta = { keys: [] };
  for (const line of text.slice(0, cut).split('\n')) {
    const c = line.indexOf(': ');
    assert.ok(c > 0, `${file}: bad line ${JSON.stringify(line)}`);
    const name = line.slice(0, c), value = line.slice(c + 2);
    if (name === 'private key') meta.keys.push(b64url(value));
    else meta[name] = value;
  }
  return { meta, sealed: new Uint8Array(Buffer.from(text.slice(cut + 2).trim(), 'base64')) };
}

const seen = new Set();
for (const f of readdirSync(dir).filter((n) => n.endsWith('.txt')).sort()) {
  const { meta, sealed } = parse(path.join(dir, f));
  seen.add(meta.expect);
  test(`reply vector ${f} (expect: ${meta.expect})`, () => {
    assert.ok(meta.keys.length > 0 && meta.keys.every((k) => k.length === 32), 'private keys');
    if (meta.expect === 'success') {
      const m = openReply(sealed, meta.keys);
      assert.equal(createHash('sha256').update(m).digest('hex'), meta['message sha256']);
      return;
    }
    assert.ok(EXPECT[meta.expect], `unknown expect ${JSON.stringify(meta.expect)}`);
    assert.throws(() => openReply(sealed, meta.keys), (e) => e.message === EXPECT[meta.expect]);
  });
}

test('reply vectors cover every expect value', () => {
  assert.deepEqual([...seen].sort(), ['success', ...Object.keys(EXPECT)].sort());
});

test('BLAKE2b: RFC 7693 Appendix A and node:crypto agree', () => {
  assert.equal(Buffer.from(blake2b(new TextEncoder().encode('abc'), 64)).toString('hex'),
    'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923');
  for (const len of [0, 1, 64, 127, 128, 129, 256, 1000]) {
    const d = randomBytes(len);
    assert.equal(Buffer.from(blake2b(new Uint8Array(d), 64)).toString('hex'), createHash('blake2b512').update(d).digest('hex'), `length ${len}`);
  }
});
