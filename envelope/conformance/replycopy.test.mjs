// node --test envelope/conformance/: the recipient's copies of their replies
// (FORMAT.md "Reply v1", the recipient's copy), read from the format alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { openReplyCopy, COPY_ERR } from './reader.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, '..', 'testdata', 'reply-copy');

const EXPECT = {
  'not opened': COPY_ERR.NOT_OPENED,
  'not a copy': COPY_ERR.NOT_COPY,
  'unsupported version': COPY_ERR.UNSUPPORTED,
};

function parse(file) {
  const text = readFileSync(file, 'latin1');
  const cut = text.indexOf('\n\n');
  assert.ok(cut > 0, `${file}: no blank line`);
  const meta = {};
  for (const line of text.slice(0, cut).split('\n')) {
    const c = line.indexOf(': ');
    assert.ok(c > 0, `${file}: bad line ${JSON.stringify(line)}`);
    meta[line.slice(0, c)] = line.slice(c + 2);
  }
  return { meta, sealed: new Uint8Array(Buffer.from(text.slice(cut + 2).trim(), 'base64')) };
}

const seen = new Set();
for (const f of readdirSync(dir).filter((n) => n.endsWith('.txt')).sort()) {
  const { meta, sealed } = parse(path.join(dir, f));
  seen.add(meta.expect);
  test(`reply copy vector ${f} (expect: ${meta.expect})`, () => {
    const open = () => openReplyCopy(sealed, meta.id, meta['env key'], meta['server key']);
    if (meta.expect === 'success') {
      assert.equal(createHash('sha256').update(open()).digest('hex'), meta['message sha256']);
      return;
    }
    assert.ok(EXPECT[meta.expect], `unknown expect ${JSON.stringify(meta.expect)}`);
    assert.throws(open, (e) => e.message === EXPECT[meta.expect]);
  });
}

test('reply copy vectors cover every expect value', () => {
  assert.deepEqual([...seen].sort(), ['success', ...Object.keys(EXPECT)].sort());
});

test('a reply copy does not open with another envelope id or a swapped key half', () => {
  const { meta, sealed } = parse(path.join(dir, 'success-attachment.txt'));
  const otherID = meta.id.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  assert.throws(() => openReplyCopy(sealed, otherID, meta['env key'], meta['server key']), (e) => e.message === COPY_ERR.NOT_OPENED);
  assert.throws(() => openReplyCopy(sealed, meta.id, meta['server key'], meta['env key']), (e) => e.message === COPY_ERR.NOT_OPENED);
});
