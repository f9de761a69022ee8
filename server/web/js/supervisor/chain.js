// The hash chain of a stream, checked in the page (docs/spec/audit-log.md): each record's body is
// its RFC 8785 canonical JSON; its chain hash is SHA-256("bidroom-hash-v1" 0 "audit-event" 0 body);
// its `prev` is the chain hash of the record before it. A supervisor reads every record of every
// stream (each record names supervisors), so a gap is itself a failure.

import { canonicalize } from "/static/js/lib/jcs.js";
import { hex, importNodeKey, labelledDigest, leafHash, treeRoot, verifySigned } from "/static/js/lib/proofs.js";

export { importNodeKey };
export const GENESIS = "0".repeat(64);

// The chain hash of a record, as the node computes it: digest("audit-event", body).
export function chainHash(record) {
  return labelledDigest("audit-event", record);
}

// A signed tree head (`audit.tree_head`): its root over the first `size` records and the
// node's signature (label `tree-head`). Returns the problem, or null.
export async function treeHeadProblem(record, leaves, nodeKey) {
  const { tree_head: head, signature } = record.payload || {};
  if (!head || head.stream !== record.stream || !(head.size < record.seq) || head.size > leaves.length) return "tree_head";
  if (hex(await treeRoot(leaves.slice(0, head.size))) !== head.root) return "tree_head";
  if (!nodeKey) return null; // the root is checked; the signature needs the node's key
  return (await verifySigned(nodeKey, "tree-head", head, signature)) ? null : "signature";
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
      this.leaves.push(await leafHash(new TextEncoder().encode(canonicalize(record))));
    } else {
      const seq = record && Number.isInteger(record.seq) ? record.seq : this.state.verified + 1;
      this.state = { ...this.state, failed: seq, reason };
    }
    this.onChange(this.state);
  }
}
