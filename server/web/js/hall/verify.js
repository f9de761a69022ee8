// What the hall checks itself, in the page, never taking the node's word for it:
// the node's signature over a lot's sealed list (docs/spec/sealed-bid.md section 9), its RFC 6962
// Merkle root over the listed receipts, that the bidder's own receipt is among them; and the
// opening record's hash before a bidder signs a confirmation or an objection over it.

import { canonicalize } from "/static/js/lib/jcs.js";
import { hex, importNodeKey as nodeKey, labelledDigest, merkleRoot, verifySigned } from "/static/js/lib/proofs.js";

export { hex, merkleRoot, verifySigned as verifySignature };

const encoder = new TextEncoder();

export class CheckFailed extends Error {
  constructor(key) {
    super(key);
    this.key = key; // a catalogue key naming what failed
  }
}

// The node's key, or CheckFailed if /api/node gave something else.
export async function importNodeKey(text) {
  try {
    return await nodeKey(text);
  } catch {
    throw new CheckFailed("verify.bad_node_key");
  }
}

// Raises CheckFailed unless the node signed this list, its root is that of its receipts, and
// `receipt` is one of them, byte for byte in canonical JSON. Returns the root checked.
export async function checkInclusion(nodeKey, sealed, signature, receipt) {
  if (!(await verifySigned(nodeKey, "sealed-list", sealed, signature))) throw new CheckFailed("verify.bad_signature");
  const receipts = Array.isArray(sealed.receipts) ? sealed.receipts : [];
  const leaves = receipts.map((r) => encoder.encode(canonicalize(r)));
  const root = hex(await merkleRoot(leaves));
  if (root !== sealed.root) throw new CheckFailed("verify.bad_root");
  const mine = canonicalize(receipt);
  if (!receipts.some((r) => canonicalize(r) === mine)) throw new CheckFailed("verify.not_listed");
  return root;
}

// The labelled digest of the record as read out (docs/protocol.md 1.3), in hex.
export function recordHash(record) {
  return labelledDigest("opening-record", record);
}
