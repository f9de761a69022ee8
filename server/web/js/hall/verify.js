// What the hall checks itself, in the page, never taking the node's word for it:
// the node's signature over a lot's sealed list (docs/spec/sealed-bid.md section 9), its RFC 6962
// Merkle root over the listed receipts, that the bidder's own receipt is among them; and the
// opening record's hash before a bidder signs a confirmation or an objection over it.

import { canonicalize } from "/static/js/lib/jcs.js";
import { fromB64url } from "/static/js/lib/session.js";

const encoder = new TextEncoder();

export class CheckFailed extends Error {
  constructor(key) {
    super(key);
    this.key = key; // a catalogue key naming what failed
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// "bidroom-sig-v1" 0x00 label 0x00 JCS(document) (docs/protocol.md 1.2).
function signedMessage(label, document) {
  return encoder.encode(`bidroom-sig-v1\0${label}\0${canonicalize(document)}`);
}

// The node's Ed25519 public key as /api/node gives it: "ed25519:<base64url of 32 bytes>".
export async function importNodeKey(text) {
  if (typeof text !== "string" || !text.startsWith("ed25519:")) throw new CheckFailed("verify.bad_node_key");
  const raw = fromB64url(text.slice("ed25519:".length));
  if (raw.length !== 32) throw new CheckFailed("verify.bad_node_key");
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

export async function verifySignature(key, label, document, signature) {
  let raw;
  try {
    raw = fromB64url(signature);
  } catch {
    return false;
  }
  if (raw.length !== 64) return false;
  return crypto.subtle.verify({ name: "Ed25519" }, key, raw, signedMessage(label, document));
}

// RFC 6962 MTH: leaves SHA-256(0x00 || d), nodes SHA-256(0x01 || left || right), the split at
// the largest power of two below the size; the empty tree is SHA-256 of nothing.
export async function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return sha256(concat(Uint8Array.of(0), leaves[0]));
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  const left = await merkleRoot(leaves.slice(0, split));
  const right = await merkleRoot(leaves.slice(split));
  return sha256(concat(Uint8Array.of(1), left, right));
}

// Raises CheckFailed unless the node signed this list, its root is that of its receipts, and
// `receipt` is one of them, byte for byte in canonical JSON. Returns the root checked.
export async function checkInclusion(nodeKey, sealed, signature, receipt) {
  if (!(await verifySignature(nodeKey, "sealed-list", sealed, signature))) throw new CheckFailed("verify.bad_signature");
  const receipts = Array.isArray(sealed.receipts) ? sealed.receipts : [];
  const leaves = receipts.map((r) => encoder.encode(canonicalize(r)));
  const root = hex(await merkleRoot(leaves));
  if (root !== sealed.root) throw new CheckFailed("verify.bad_root");
  const mine = canonicalize(receipt);
  if (!receipts.some((r) => canonicalize(r) === mine)) throw new CheckFailed("verify.not_listed");
  return root;
}

// The labelled digest of the record as read out (docs/protocol.md 1.3), in hex.
export async function recordHash(record) {
  const data = encoder.encode(`bidroom-hash-v1\0opening-record\0${canonicalize(record)}`);
  return hex(await sha256(data));
}
