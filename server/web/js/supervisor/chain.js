// The hash chain of a stream, checked in the page (docs/spec/audit-log.md): each record's body is
// its RFC 8785 canonical JSON; its chain hash is SHA-256("bidroom-hash-v1" 0 "audit-event" 0 body);
// its `prev` is the chain hash of the record before it. A supervisor reads every record of every
// stream (each record names supervisors), so a gap is itself a failure.

import { canonicalize } from "/static/js/lib/jcs.js";
import { fromB64url } from "/static/js/lib/session.js";

export const GENESIS = "0".repeat(64);
const PREFIX = new TextEncoder().encode("bidroom-hash-v1\u0000audit-event\u0000");

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function joined(...parts) {
  const message = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    message.set(part, at);
    at += part.length;
  }
  return message;
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", joined(...parts)));
}

// The chain hash of a record, as the node computes it.
export async function chainHash(record) {
  return hex(await sha256(PREFIX, new TextEncoder().encode(canonicalize(record))));
}

// RFC 6962 Merkle tree hash of leaf hashes (docs/spec/audit-bundle.md 1).
async function treeHash(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0];
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  const [left, right] = [await treeHash(leaves.slice(0, split)), await treeHash(leaves.slice(split))];
  return sha256(Uint8Array.of(1), left, right);
}

// A signed tree head (`audit.tree_head`): its root over the first `size` records and the
// node's signature (label `tree-head`). Returns the problem, or null.
export async function treeHeadProblem(record, leaves, nodeKey) {
  const { tree_head: head, signature } = record.payload || {};
  if (!head || head.stream !== record.stream || !(head.size < record.seq) || head.size > leaves.length) return "tree_head";
  if (hex(await treeHash(leaves.slice(0, head.size))) !== head.root) return "tree_head";
  if (!nodeKey) return null; // the root is checked; the signature needs the node's key
  const message = new TextEncoder().encode(`bidroom-sig-v1\u0000tree-head\u0000${canonicalize(head)}`);
  try {
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, nodeKey, fromB64url(signature), message);
    return ok ? null : "signature";
  } catch {
    return "signature";
  }
}

// The node's public key (`ed25519:<base64url>`) for checking its signatures in the page.
export async function importNodeKey(text) {
  const raw = fromB64url(String(text).replace(/^ed25519:/, ""));
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

// What is wrong with `record` as the next record after (lastSeq, lastHash), or null.
export async function problemOf(stream, record, hash, lastSeq, lastHash) {
  if (!record || typeof record !== "object") return "form";
  if (record.stream !== stream) return "stream";
  if (record.seq !== lastSeq + 1) return "gap";
  if ((await chainHash(record)) !== hash) return "altered";
  if (record.prev !== (lastSeq === 0 ? GENESIS : lastHash)) return "link";
  return null;
}

// One stream's verifier: records go in, in order; `state` says how far the chain holds.
// Checks run one after another (hashing is asynchronous), in the order records arrived.
export class Chain {
  constructor(stream, onChange, nodeKey = null) {
    this.stream = stream;
    this.onChange = onChange || (() => {});
    this.nodeKey = nodeKey;
    this.leaves = [];
    this.state = { stream, verified: 0, failed: null, reason: null, signed: 0 };
    this.lastHash = GENESIS;
    this.queue = Promise.resolve();
  }

  add(record, hash) {
    this.queue = this.queue.then(() => this.check(record, hash));
    return this.queue;
  }

  async check(record, hash) {
    if (this.state.failed !== null) return;
    let reason = await problemOf(this.stream, record, hash, this.state.verified, this.lastHash);
    if (reason === null && record.type === "audit.tree_head") reason = await treeHeadProblem(record, this.leaves, this.nodeKey);
    if (reason === null) {
      const signed = record.type === "audit.tree_head" ? record.payload.tree_head.size : this.state.signed;
      this.state = { ...this.state, verified: record.seq, signed };
      this.lastHash = hash;
      this.leaves.push(await sha256(Uint8Array.of(0), new TextEncoder().encode(canonicalize(record))));
    } else {
      const seq = record && Number.isInteger(record.seq) ? record.seq : this.state.verified + 1;
      this.state = { ...this.state, failed: seq, reason };
    }
    this.onChange(this.state);
  }
}
