// Independent reader for the waxseal envelope format, version 1, written from
// docs/FORMAT.md alone (sections 2, 4-7, and "Reply v1"). No dependencies beyond node: built-ins.
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, timingSafeEqual } from 'node:crypto';

// ---------------------------------------------------------------------------
// NaCl crypto_secretbox (XSalsa20-Poly1305), pure JavaScript.

function rotl(x, n) { return (x << n) | (x >>> (32 - n)); }
function load32(b, i) { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0; }
function store32(b, i, v) { b[i] = v & 255; b[i + 1] = (v >>> 8) & 255; b[i + 2] = (v >>> 16) & 255; b[i + 3] = (v >>> 24) & 255; }

const SIGMA = new Uint8Array([...'expand 32-byte k'].map((c) => c.charCodeAt(0)));

// Salsa20 state: constants at 0,5,10,15; key at 1-4,11-14; input (16 bytes) at 6-9.
function salsaState(key, input16) {
  const s = new Uint32Array(16);
  s[0] = load32(SIGMA, 0); s[5] = load32(SIGMA, 4); s[10] = load32(SIGMA, 8); s[15] = load32(SIGMA, 12);
  for (let i = 0; i < 4; i++) { s[1 + i] = load32(key, 4 * i); s[11 + i] = load32(key, 16 + 4 * i); }
  for (let i = 0; i < 4; i++) s[6 + i] = load32(input16, 4 * i);
  return s;
}

function doubleRounds(x) {
  for (let i = 0; i < 20; i += 2) {
    x[4] ^= rotl((x[0] + x[12]) | 0, 7);  x[8] ^= rotl((x[4] + x[0]) | 0, 9);
    x[12] ^= rotl((x[8] + x[4]) | 0, 13); x[0] ^= rotl((x[12] + x[8]) | 0, 18);
    x[9] ^= rotl((x[5] + x[1]) | 0, 7);   x[13] ^= rotl((x[9] + x[5]) | 0, 9);
    x[1] ^= rotl((x[13] + x[9]) | 0, 13); x[5] ^= rotl((x[1] + x[13]) | 0, 18);
    x[14] ^= rotl((x[10] + x[6]) | 0, 7); x[2] ^= rotl((x[14] + x[10]) | 0, 9);
    x[6] ^= rotl((x[2] + x[14]) | 0, 13); x[10] ^= rotl((x[6] + x[2]) | 0, 18);
    x[3] ^= rotl((x[15] + x[11]) | 0, 7); x[7] ^= rotl((x[3] + x[15]) | 0, 9);
    x[11] ^= rotl((x[7] + x[3]) | 0, 13); x[15] ^= rotl((x[11] + x[7]) | 0, 18);
    x[1] ^= rotl((x[0] + x[3]) | 0, 7);   x[2] ^= rotl((x[1] + x[0]) | 0, 9);
    x[3] ^= rotl((x[2] + x[1]) | 0, 13);  x[0] ^= rotl((x[3] + x[2]) | 0, 18);
    x[6] ^= rotl((x[5] + x[4]) | 0, 7);   x[7] ^= rotl((x[6] + x[5]) | 0, 9);
    x[4] ^= rotl((x[7] + x[6]) | 0, 13);  x[5] ^= rotl((x[4] + x[7]) | 0, 18);
    x[11] ^= rotl((x[10] + x[9]) | 0, 7); x[8] ^= rotl((x[11] + x[10]) | 0, 9);
    x[9] ^= rotl((x[8] + x[11]) | 0, 13); x[10] ^= rotl((x[9] + x[8]) | 0, 18);
    x[12] ^= rotl((x[15] + x[14]) | 0, 7); x[13] ^= rotl((x[12] + x[15]) | 0, 9);
    x[14] ^= rotl((x[13] + x[12]) | 0, 13); x[15] ^= rotl((x[14] + x[13]) | 0, 18);
  }
}

function hsalsa20(key, nonce16) {
  const x = salsaState(key, nonce16);
  doubleRounds(x);
  const out = new Uint8Array(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((w, i) => store32(out, 4 * i, x[w]));
  return out;
}

// XSalsa20 keystream XOR starting at block 0, byte 0.
function xsalsa20Xor(key, nonce24, input) {
  const subkey = hsalsa20(key, nonce24.subarray(0, 16));
  const inp = new Uint8Array(16);
  inp.set(nonce24.subarray(16, 24), 0);
  const base = salsaState(subkey, inp);
  const out = new Uint8Array(input.length);
  const x = new Uint32Array(16);
  const block = new Uint8Array(64);
  let counter = 0n;
  for (let off = 0; off < input.length; off += 64) {
    base[8] = Number(counter & 0xffffffffn); base[9] = Number(counter >> 32n);
    x.set(base);
    doubleRounds(x);
    for (let i = 0; i < 16; i++) store32(block, 4 * i, (x[i] + base[i]) >>> 0);
    const end = Math.min(64, input.length - off);
    for (let i = 0; i < end; i++) out[off + i] = input[off + i] ^ block[i];
    counter++;
  }
  return out;
}

function le2big(b) { let n = 0n; for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]); return n; }
const P1305 = (1n << 130n) - 5n;

function poly1305(key32, msg) {
  const r = le2big(key32.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le2big(key32.subarray(16, 32));
  let h = 0n;
  for (let off = 0; off < msg.length; off += 16) {
    const blk = msg.subarray(off, Math.min(off + 16, msg.length));
    const n = le2big(blk) | (1n << BigInt(8 * blk.length));
    h = ((h + n) * r) % P1305;
  }
  h = (h + s) & ((1n << 128n) - 1n);
  const tag = new Uint8Array(16);
  for (let i = 0; i < 16; i++) { tag[i] = Number(h & 255n); h >>= 8n; }
  return tag;
}

/** crypto_secretbox: returns tag(16) ‖ ciphertext. */
export function secretboxSeal(key, nonce, m) {
  const padded = new Uint8Array(32 + m.length);
  padded.set(m, 32);
  const c = xsalsa20Xor(key, nonce, padded); // first 32 bytes of keystream = Poly1305 key
  const ct = c.subarray(32);
  const out = new Uint8Array(16 + m.length);
  out.set(poly1305(c.subarray(0, 32), ct), 0);
  out.set(ct, 16);
  return out;
}

/** crypto_secretbox_open: returns the plaintext, or null if the tag does not verify. */
export function secretboxOpen(key, nonce, box) {
  if (box.length < 16) return null;
  const tag = box.subarray(0, 16), ct = box.subarray(16);
  const polyKey = xsalsa20Xor(key, nonce, new Uint8Array(32));
  if (!timingSafeEqual(poly1305(polyKey, ct), tag)) return null;
  const padded = new Uint8Array(32 + ct.length);
  padded.set(ct, 32);
  return xsalsa20Xor(key, nonce, padded).subarray(32);
}

// ---------------------------------------------------------------------------
// Errors: messages use the failure names of FORMAT.md §5-§7 verbatim.

export class EnvelopeError extends Error {
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'EnvelopeError';
    this.code = code;
  }
}
const fail = (code, detail) => { throw new EnvelopeError(code, detail); };

export const ERR = Object.freeze({
  NOT_ENVELOPE: 'not a waxseal envelope',
  UNSUPPORTED: 'unsupported envelope version',
  MALFORMED: 'malformed envelope',
  BAD_BASE64: 'bad base64',
  WRONG_KEY: 'wrong key',
  HEADER_MODIFIED: 'header modified',
  TRUNCATED: 'truncated',
  APPENDED: 'appended',
  LAST_NOT_MARKED: 'last chunk is not marked as last',
  LAST_TOO_EARLY: 'chunk marked as last before the end',
  OUT_OF_ORDER: 'chunk out of order',
  CHUNK_MODIFIED: 'chunk modified',
});

// ---------------------------------------------------------------------------
// Encodings (§2, §7.3).

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// Strict RFC 4648 decoding. `padded`: §4 (padding required) vs §5 (no padding).
function strictBase64(s, alphabet, padded) {
  const map = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) map[alphabet.charCodeAt(i)] = i;
  let body = s, pad = 0;
  if (padded) {
    if (s.length % 4 !== 0) return null;
    while (pad < 2 && body.endsWith('=')) { body = body.slice(0, -1); pad++; }
  } else if (s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((body.length * 6) / 8));
  let acc = 0, bits = 0, o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? map[c] : -1;
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xffffff; bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255; }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return null; // non-canonical trailing bits
  return out;
}

// §7.3: "Readers MUST ignore CR and LF inside a field and MUST reject any other
// character outside the base64 alphabet (bad base64)."
function decodeField(name, text) {
  const s = text.replace(/[\r\n]/g, '');
  const out = strictBase64(s, B64, true);
  if (out === null) fail(ERR.BAD_BASE64, `field "${name}"`);
  return out;
}

function decodeKey32(s) {
  if (typeof s !== 'string' || s.length !== 43) return null;
  const k = strictBase64(s, B64URL, false);
  return k && k.length === 32 ? k : null;
}

// ---------------------------------------------------------------------------
// §4 header checks.

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
function isUtcTime(s) {
  const m = typeof s === 'string' && RFC3339_UTC.exec(s);
  if (!m) return false;
  const [, y, mo, d, h, mi, se] = m.map(Number);
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d &&
    h < 24 && mi < 60 && se < 60;
}

function isLoopback(host) {
  if (host === 'localhost' || host.endsWith('.localhost') || host === '[::1]') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

function isKeyserverOrigin(s) {
  if (typeof s !== 'string') return false;
  const m = /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return false;
  if (m[3] !== undefined && Number(m[3]) > 65535) return false;
  return m[1] === 'https' || isLoopback(m[2]);
}

const noCtl = (s) => typeof s === 'string' && !/[\r\n\0]/.test(s);

function parseHeader(bytes) {
  let header;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    header = JSON.parse(text);
  } catch (e) {
    fail(ERR.MALFORMED, 'header is not UTF-8 JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(ERR.MALFORMED, 'header is not a JSON object');
  // §4 / §11: v != 1 -> unsupported envelope version.
  if (header.v !== 1) fail(ERR.UNSUPPORTED, `header v = ${JSON.stringify(header.v)}`);
  if (typeof header.id !== 'string' || !/^[0-9a-f]{32}$/.test(header.id)) fail(ERR.MALFORMED, 'header id');
  if (!isKeyserverOrigin(header.keyserver)) fail(ERR.MALFORMED, 'header keyserver');
  for (const f of ['from', 'to', 'subject']) if (!noCtl(header[f])) fail(ERR.MALFORMED, `header ${f}`);
  if (!isUtcTime(header.created)) fail(ERR.MALFORMED, 'header created');
  if ('expires' in header && !isUtcTime(header.expires)) fail(ERR.MALFORMED, 'header expires');
  if (!Number.isSafeInteger(header.size) || header.size < 0) fail(ERR.MALFORMED, 'header size');
  return header;
}

// ---------------------------------------------------------------------------
// §7.4 container parsing.

const latin1 = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('latin1');

function parseContainer(html) {
  const FORM = '<form id="waxseal" action="';
  const formAt = html.indexOf(FORM);
  if (formAt < 0) fail(ERR.NOT_ENVELOPE);
  let pos = formAt + FORM.length;
  const q = html.indexOf('"', pos);
  if (q < 0) fail(ERR.MALFORMED, 'unterminated action');
  const action = html.slice(pos, q);
  pos = q + 1;
  const fields = {};
  for (const name of ['version', 'header', 'key', 'payload']) {
    const open = `<input type="hidden" name="${name}" value="`;
    const at = html.indexOf(open, pos);
    if (at < 0) fail(ERR.NOT_ENVELOPE, `missing field "${name}"`);
    const start = at + open.length;
    const end = html.indexOf('"', start);
    if (end < 0 || html[end + 1] !== '>') fail(ERR.MALFORMED, `unterminated field "${name}"`);
    fields[name] = html.slice(start, end);
    pos = end + 2;
  }
  return { action, fields, online: isOnline(html.slice(0, formAt)) };
}

// §7.5: the file says its ciphertext is also stored online when the page before
// the form ends with the script line and the head allows exactly that script by
// its SHA-256 in a Content-Security-Policy meta element.
const ONLINE_SCRIPT = 'document.addEventListener("submit",function(e){e.preventDefault();location.href=e.target.action.replace("/open/","/e/")})';
function isOnline(page) {
  const hash = createHash('sha256').update(ONLINE_SCRIPT, 'latin1').digest('base64');
  const csp = `<meta http-equiv="Content-Security-Policy" content="script-src 'sha256-${hash}'">\r\n`;
  return page.endsWith(`<script>${ONLINE_SCRIPT}</script>\r\n`) && page.includes(csp);
}

// ---------------------------------------------------------------------------
// §5 key derivation.

const hmac = (key, data) => new Uint8Array(createHmac('sha256', key).update(data).digest());
const hkdfExtract = (salt, ikm) => hmac(salt, ikm);
function hkdfExpand(prk, info, len) {
  const out = new Uint8Array(len);
  let t = new Uint8Array(0), o = 0;
  for (let i = 1; o < len; i++) {
    t = hmac(prk, Buffer.concat([t, info, Buffer.from([i])]));
    out.set(t.subarray(0, Math.min(32, len - o)), o);
    o += t.length;
  }
  return out;
}
const concat = (...parts) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
const ascii = (s) => new Uint8Array(Buffer.from(s, 'latin1'));

// ---------------------------------------------------------------------------
// §6 STREAM.

export const CHUNK = 65536;

function streamNonce(i, last) {
  const n = new Uint8Array(24);
  new DataView(n.buffer).setBigUint64(15, BigInt(i), false);
  n[23] = last ? 1 : 0;
  return n;
}

function openPayload(kPay, size, ct) {
  const n = Math.max(1, Math.ceil(size / CHUNK));
  const want = size + 16 * n;
  if (ct.length < want) fail(ERR.TRUNCATED, `ciphertext is ${ct.length} bytes, header size needs ${want}`);
  if (ct.length > want) fail(ERR.APPENDED, `${ct.length - want} bytes after the last chunk`);
  const msg = new Uint8Array(size);
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const off = i * (CHUNK + 16);
    const box = ct.subarray(off, last ? ct.length : off + CHUNK + 16);
    const pt = secretboxOpen(kPay, streamNonce(i, last), box);
    if (pt === null) diagnose(kPay, box, i, n, last);
    msg.set(pt, i * CHUNK);
  }
  return msg;
}

// §6 "When chunk i fails, a reader MAY say why".
function diagnose(kPay, box, i, n, last) {
  if (secretboxOpen(kPay, streamNonce(i, !last), box) !== null) {
    fail(last ? ERR.LAST_NOT_MARKED : ERR.LAST_TOO_EARLY, `chunk ${i} of ${n}`);
  }
  for (let j = 0; j < n; j++) {
    if (j === i) continue;
    if (secretboxOpen(kPay, streamNonce(j, false), box) !== null || secretboxOpen(kPay, streamNonce(j, true), box) !== null) {
      fail(ERR.OUT_OF_ORDER, `chunk ${i} of ${n} opens as chunk ${j}`);
    }
  }
  fail(ERR.CHUNK_MODIFIED, `chunk ${i} of ${n}`);
}

// ---------------------------------------------------------------------------

/**
 * Opens a securedoc.html envelope.
 * @param {Uint8Array} htmlBytes
 * @param {string} serverKeyBase64url k_srv
 * @returns {{header: object, headerBytes: Uint8Array, message: Uint8Array, online: boolean}}
 */
export function openEnvelope(htmlBytes, serverKeyBase64url) {
  const html = latin1(htmlBytes);
  // §7.4 steps 1-3.
  const { action, fields, online } = parseContainer(html);
  // Step 4.
  if (fields.version.trim() !== '1') fail(ERR.UNSUPPORTED, `version field ${JSON.stringify(fields.version.trim())}`);
  // Step 5.
  const headerBytes = decodeField('header', fields.header);
  const keyBlock = decodeField('key', fields.key);
  const ciphertext = decodeField('payload', fields.payload);
  const header = parseHeader(headerBytes);
  if (keyBlock.length !== 64) fail(ERR.MALFORMED, `key block is ${keyBlock.length} bytes, not 64`);
  // Step 6.
  const hash = action.indexOf('#');
  if (hash < 0) fail(ERR.MALFORMED, 'action has no fragment');
  if (action.slice(0, hash) !== `${header.keyserver}/open/${header.id}`) fail(ERR.MALFORMED, 'action does not match the header');
  const frag = action.slice(hash + 1);
  const kEnv = frag.startsWith('k=') ? decodeKey32(frag.slice(2)) : null;
  if (kEnv === null) fail(ERR.MALFORMED, 'action fragment is not k=<32-byte base64url key>');

  // §5.
  const kSrv = decodeKey32(serverKeyBase64url);
  if (kSrv === null) fail(ERR.WRONG_KEY, 'server key is not 43 base64url characters encoding 32 bytes');
  const id = Buffer.from(header.id, 'hex');
  const prk = hkdfExtract(id, concat(kSrv, kEnv));
  const headerHash = new Uint8Array(createHash('sha256').update(headerBytes).digest());
  const kek = hkdfExpand(prk, concat(ascii('waxseal v1'), headerHash), 32);
  const check = hkdfExpand(prk, ascii('waxseal v1 key check'), 16);
  if (!timingSafeEqual(check, keyBlock.subarray(0, 16))) fail(ERR.WRONG_KEY);
  const kPay = secretboxOpen(kek, new Uint8Array(24), keyBlock.subarray(16));
  if (kPay === null) fail(ERR.HEADER_MODIFIED);

  // §6.
  const message = openPayload(kPay, header.size, ciphertext);
  return { header, headerBytes, message, online };
}

// ---------------------------------------------------------------------------
// Reply v1 (FORMAT.md "Reply v1"): "wxr" 0x01 ‖ NaCl sealed box. X25519 comes
// from node:crypto; BLAKE2b (RFC 7693) is written out here because node offers
// only the 64-byte variant, and a 24-byte BLAKE2b is not a truncated one.

const M64 = (1n << 64n) - 1n;
const B2IV = [0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n];
const B2SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4], [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13], [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11], [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5], [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0]];
const rotr64 = (x, n) => ((x >> n) | (x << (64n - n))) & M64;

function b2compress(h, block, t, last) {
  const m = [];
  for (let i = 0; i < 16; i++) m.push(le2big(block.subarray(8 * i, 8 * i + 8)));
  const v = [...h, ...B2IV];
  v[12] ^= t & M64; v[13] ^= t >> 64n;
  if (last) v[14] ^= M64;
  const g = (a, b, c, d, x, y) => {
    v[a] = (v[a] + v[b] + x) & M64; v[d] = rotr64(v[d] ^ v[a], 32n);
    v[c] = (v[c] + v[d]) & M64; v[b] = rotr64(v[b] ^ v[c], 24n);
    v[a] = (v[a] + v[b] + y) & M64; v[d] = rotr64(v[d] ^ v[a], 16n);
    v[c] = (v[c] + v[d]) & M64; v[b] = rotr64(v[b] ^ v[c], 63n);
  };
  for (let r = 0; r < 12; r++) {
    const s = B2SIGMA[r % 10];
    g(0, 4, 8, 12, m[s[0]], m[s[1]]); g(1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(2, 6, 10, 14, m[s[4]], m[s[5]]); g(3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(0, 5, 10, 15, m[s[8]], m[s[9]]); g(1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(2, 7, 8, 13, m[s[12]], m[s[13]]); g(3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

/** Unkeyed BLAKE2b with an outLen-byte digest (RFC 7693). */
export function blake2b(data, outLen) {
  const h = B2IV.slice();
  h[0] ^= 0x01010000n ^ BigInt(outLen);
  let off = 0;
  while (data.length - off > 128) {
    b2compress(h, data.subarray(off, off + 128), BigInt(off + 128), false);
    off += 128;
  }
  const last = new Uint8Array(128);
  last.set(data.subarray(off));
  b2compress(h, last, BigInt(data.length), true);
  const out = new Uint8Array(64);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) out[8 * i + j] = Number((h[i] >> BigInt(8 * j)) & 255n);
  return out.subarray(0, outLen);
}

export const REPLY_ERR = Object.freeze({
  NOT_REPLY: 'not a waxseal reply',
  UNSUPPORTED: 'unsupported reply version',
  NOT_OPENED: 'no reply key opens this reply',
});

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * Opens a Reply v1 with the first of the private keys (32-byte Uint8Arrays)
 * that opens it; returns the RFC 5322 message. Throws Error(REPLY_ERR.*).
 */
export function openReply(sealed, privateKeys) {
  const magic = [0x77, 0x78, 0x72]; // "wxr"
  if (sealed.length < 4 || magic.some((c, i) => sealed[i] !== c)) throw new Error(REPLY_ERR.NOT_REPLY);
  if (sealed[3] !== 1) throw new Error(REPLY_ERR.UNSUPPORTED);
  const epk = sealed.subarray(4, 36), box = sealed.subarray(36);
  if (epk.length < 32 || box.length < 16) throw new Error(REPLY_ERR.NOT_OPENED);
  const peer = createPublicKey({ key: Buffer.concat([SPKI_X25519, epk]), format: 'der', type: 'spki' });
  for (const sk of privateKeys) {
    const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, sk]), format: 'der', type: 'pkcs8' });
    const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
    let shared;
    try { shared = diffieHellman({ privateKey: priv, publicKey: peer }); } catch { continue; } // low-order point
    const key = hsalsa20(new Uint8Array(shared), new Uint8Array(16));
    const nonce = blake2b(Uint8Array.from([...epk, ...pub]), 24);
    const m = secretboxOpen(key, nonce, box);
    if (m) return m;
  }
  throw new Error(REPLY_ERR.NOT_OPENED);
}

export const COPY_ERR = Object.freeze({
  NOT_COPY: 'not a waxseal reply copy',
  UNSUPPORTED: 'unsupported reply copy version',
  NOT_OPENED: 'reply copy does not open',
});

/**
 * Opens the recipient's copy of a reply (FORMAT.md "Reply v1", the recipient's
 * copy: a wrap of the reply's box key under k_copy, then the sealed reply) with
 * the envelope's id (32 hex digits) and both key halves (base64url); returns
 * the RFC 5322 message. Throws Error(COPY_ERR.*).
 */
export function openReplyCopy(copy, idHex, envKeyBase64url, serverKeyBase64url) {
  const magic = [0x77, 0x78, 0x6b]; // "wxk"
  if (copy.length < 4 || magic.some((c, i) => copy[i] !== c)) throw new Error(COPY_ERR.NOT_COPY);
  if (copy[3] !== 1) throw new Error(COPY_ERR.UNSUPPORTED);
  const kEnv = decodeKey32(envKeyBase64url), kSrv = decodeKey32(serverKeyBase64url);
  if (kEnv === null || kSrv === null || !/^[0-9a-f]{32}$/.test(idHex)) throw new Error(COPY_ERR.NOT_OPENED);
  const prk = hkdfExtract(Buffer.from(idHex, 'hex'), concat(kSrv, kEnv));
  const kCopy = hkdfExpand(prk, ascii('waxseal v1 reply copy'), 32);
  const wrapSize = 4 + 24 + 16 + 64;
  if (copy.length < wrapSize + 4 + 32 + 16) throw new Error(COPY_ERR.NOT_OPENED);
  const unwrapped = secretboxOpen(kCopy, copy.subarray(4, 28), copy.subarray(28, wrapSize));
  if (!unwrapped) throw new Error(COPY_ERR.NOT_OPENED);
  const key = unwrapped.subarray(0, 32), pk = unwrapped.subarray(32, 64);
  const reply = copy.subarray(wrapSize);
  if (reply[0] !== 0x77 || reply[1] !== 0x78 || reply[2] !== 0x72 || reply[3] !== 1) throw new Error(COPY_ERR.NOT_OPENED);
  const epk = reply.subarray(4, 36);
  const m = secretboxOpen(key, blake2b(concat(epk, pk), 24), reply.subarray(36));
  if (!m) throw new Error(COPY_ERR.NOT_OPENED);
  return m;
}
