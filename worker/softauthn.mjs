// A software passkey for API tests: an ES256 key that answers a WebAuthn
// registration with "none" attestation, as a browser's credential.toJSON()
// gives it (docs/API.md, Passkeys). Enough for the key server's checks: the
// client data (type, challenge, origin), the relying party id's hash, the
// user-present and user-verified flags, and the credential's public key.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";

const b64url = (b) => Buffer.from(b).toString("base64url");

// cbor encodes the few CBOR types attestation needs: unsigned and negative
// integers, byte and text strings, and maps.
function cbor(v) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof v === "number") return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === "string") return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (v instanceof Map) {
    const parts = [head(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: cannot encode ${typeof v}`);
}

export function softPasskey(origin) {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const id = randomBytes(16);
  const rpId = new URL(origin).hostname;
  return {
    id,
    // create answers options (the JSON form of publicKey creation options).
    create(options) {
      const clientData = Buffer.from(JSON.stringify({ type: "webauthn.create", challenge: options.challenge, origin, crossOrigin: false }));
      const cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")], [-3, Buffer.from(jwk.y, "base64url")]]));
      const idLen = Buffer.alloc(2);
      idLen.writeUInt16BE(id.length);
      const authData = Buffer.concat([
        createHash("sha256").update(rpId).digest(),
        Buffer.from([0x45]), // user present, user verified, attested credential data
        Buffer.alloc(4), // sign counter 0
        Buffer.alloc(16), // AAGUID
        idLen, id, cose,
      ]);
      const attestation = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
      return {
        id: b64url(id), rawId: b64url(id), type: "public-key", authenticatorAttachment: "platform", clientExtensionResults: {},
        response: { clientDataJSON: b64url(clientData), attestationObject: b64url(attestation), transports: ["internal"] },
      };
    },
  };
}
