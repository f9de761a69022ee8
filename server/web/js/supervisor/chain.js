// The hash chain of a stream, checked in the page (docs/spec/audit-log.md): each record's body is
// its RFC 8785 canonical JSON; its chain hash is SHA-256("bidroom-hash-v1" 0 "audit-event" 0 body);
// its `prev` is the chain hash of the record before it. A supervisor reads every record of every
// stream (each record names supervisors), so a gap is itself a failure.

import { canonicalize } from "/static/js/lib/jcs.js";

export const GENESIS = "0".repeat(64);
const PREFIX = new TextEncoder().encode("bidroom-hash-v1\u0000audit-event\u0000");

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The chain hash of a record, as the node computes it.
export async function chainHash(record) {
  const body = new TextEncoder().encode(canonicalize(record));
  const message = new Uint8Array(PREFIX.length + body.length);
  message.set(PREFIX, 0);
  message.set(body, PREFIX.length);
  return hex(await crypto.subtle.digest("SHA-256", message));
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
  constructor(stream, onChange) {
    this.stream = stream;
    this.onChange = onChange || (() => {});
    this.state = { stream, verified: 0, failed: null, reason: null };
    this.lastHash = GENESIS;
    this.queue = Promise.resolve();
  }

  add(record, hash) {
    this.queue = this.queue.then(() => this.check(record, hash));
    return this.queue;
  }

  async check(record, hash) {
    if (this.state.failed !== null) return;
    const reason = await problemOf(this.stream, record, hash, this.state.verified, this.lastHash);
    if (reason === null) {
      this.state = { ...this.state, verified: record.seq };
      this.lastHash = hash;
    } else {
      const seq = record && Number.isInteger(record.seq) ? record.seq : this.state.verified + 1;
      this.state = { ...this.state, failed: seq, reason };
    }
    this.onChange(this.state);
  }
}
