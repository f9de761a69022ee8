// Passphrase-protected key files in the page: PKCS#8 EncryptedPrivateKeyInfo with PBES2
// (RFC 8018), PBKDF2 with HMAC-SHA256 (or SHA-1, its default) and AES-CBC, which is what
// `bidroom key generate --passphrase-env` writes. The key derivation and the cipher are
// WebCrypto's; what is written here is only the reading of the DER structure around them,
// checked field by field, so an unexpected file is refused rather than guessed at.

import { ApiError } from "./api.js";

const OID = {
  pbes2: "2a864886f70d01050d",
  pbkdf2: "2a864886f70d01050c",
  hmacSha1: "2a864886f70d0207",
  hmacSha256: "2a864886f70d0209",
  aes128cbc: "608648016503040102",
  aes256cbc: "60864801650304012a",
};
const CIPHERS = { [OID.aes128cbc]: 128, [OID.aes256cbc]: 256 };
const HASHES = { [OID.hmacSha1]: "SHA-1", [OID.hmacSha256]: "SHA-256" };
const MAX_ITERATIONS = 10_000_000; // a hostile file can't make the page derive forever

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function unreadable() {
  return new ApiError({ code: "key_unreadable" });
}

// One DER element at `offset`: its tag, its contents and where the next element starts.
function element(der, offset = 0) {
  if (offset + 2 > der.length) throw unreadable();
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 3 || start + count > der.length) throw unreadable();
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + der[start + i];
    start += count;
  }
  if (start + length > der.length) throw unreadable();
  return { tag, body: der.subarray(start, start + length), next: start + length };
}

function children(parent) {
  const found = [];
  for (let offset = 0; offset < parent.body.length; ) {
    const child = element(parent.body, offset);
    found.push(child);
    offset = child.next;
  }
  return found;
}

function expect(node, tag) {
  if (!node || node.tag !== tag) throw unreadable();
  return node;
}

function integer(node) {
  expect(node, 0x02);
  if (node.body.length > 4) throw unreadable();
  return node.body.reduce((value, byte) => value * 256 + byte, 0);
}

// The PKCS#8 PrivateKeyInfo inside an EncryptedPrivateKeyInfo, decrypted with `passphrase`.
export async function decryptPkcs8(der, passphrase) {
  const [algorithm, encrypted] = children(expect(element(der), 0x30));
  const [scheme, parameters] = children(expect(algorithm, 0x30));
  if (hex(expect(scheme, 0x06).body) !== OID.pbes2) throw unreadable();
  const [kdf, cipher] = children(expect(parameters, 0x30));
  const [kdfOid, kdfParameters] = children(expect(kdf, 0x30));
  if (hex(expect(kdfOid, 0x06).body) !== OID.pbkdf2) throw unreadable();
  const [salt, iterations, ...rest] = children(expect(kdfParameters, 0x30));
  let hash = "SHA-1";
  for (const extra of rest) {
    if (extra.tag === 0x30) {
      hash = HASHES[hex(expect(children(extra)[0], 0x06).body)];
      if (!hash) throw unreadable();
    }
  }
  const [cipherOid, iv] = children(expect(cipher, 0x30));
  const bits = CIPHERS[hex(expect(cipherOid, 0x06).body)];
  const rounds = integer(iterations);
  if (!bits || rounds < 1 || rounds > MAX_ITERATIONS || expect(iv, 0x04).body.length !== 16) throw unreadable();
  const secret = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "PBKDF2", salt: expect(salt, 0x04).body, iterations: rounds, hash },
    secret,
    { name: "AES-CBC", length: bits },
    false,
    ["decrypt"],
  );
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv: iv.body }, key, expect(encrypted, 0x04).body));
  } catch {
    throw new ApiError({ code: "key_passphrase" });
  }
}
