// The product's hashes and signatures as the pages check them (docs/protocol.md 1.2 and 1.3,
// docs/spec/audit-bundle.md 1): labelled digests, the node's Ed25519 signatures, RFC 6962
// Merkle roots. Written here once, for the hall, the workstation and the supervisor's window;
// the primitives are WebCrypto's and the browser tests check every format against the node's.

import { canonicalize } from "./jcs.js";
import { fromB64url } from "./session.js";

const encoder = new TextEncoder();

export function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function joined(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", joined(parts)));
}

// digest(label, data) = SHA-256("bidroom-hash-v1" 0x00 label 0x00 data), in hex.
export async function labelledDigest(label, document) {
  return hex(await sha256(encoder.encode(`bidroom-hash-v1\0${label}\0${canonicalize(document)}`)));
}

// The node's public key as /api/node gives it, `ed25519:<base64url of 32 bytes>`.
export async function importNodeKey(text) {
  if (typeof text !== "string" || !text.startsWith("ed25519:")) throw new TypeError("not an ed25519 key");
  const raw = fromB64url(text.slice("ed25519:".length));
  if (raw.length !== 32) throw new TypeError("not an ed25519 key");
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

// Whether `signature` (base64url) is the key's over "bidroom-sig-v1" 0x00 label 0x00 JCS(document).
export async function verifySigned(key, label, document, signature) {
  let raw;
  try {
    raw = fromB64url(signature);
  } catch {
    return false;
  }
  if (raw.length !== 64) return false;
  const message = encoder.encode(`bidroom-sig-v1\0${label}\0${canonicalize(document)}`);
  return crypto.subtle.verify({ name: "Ed25519" }, key, raw, message);
}

// RFC 6962: a leaf's hash SHA-256(0x00 || data).
export function leafHash(data) {
  return sha256(Uint8Array.of(0), data);
}

// RFC 6962 MTH over leaf hashes: nodes SHA-256(0x01 || left || right), split at the largest
// power of two below the size; the empty tree is SHA-256 of nothing.
export async function treeRoot(leaves) {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0];
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  return sha256(Uint8Array.of(1), await treeRoot(leaves.slice(0, split)), await treeRoot(leaves.slice(split)));
}

// The Merkle root over the leaves' data.
export async function merkleRoot(data) {
  return treeRoot(await Promise.all(data.map(leafHash)));
}
