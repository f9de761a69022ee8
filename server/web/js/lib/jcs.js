// RFC 8785 (JCS) canonical JSON: what the node hashes and signs (docs/protocol.md 1.1).
// Written here, not taken from a package: it is the product's own signing format and fits in a
// page of code; the browser tests check it against the node's implementation.

export function canonicalize(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS has no NaN or Infinity");
    return JSON.stringify(value); // ECMAScript number formatting, as RFC 8785 section 3.2.2.3
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
  if (typeof value === "object") {
    // Default sort compares UTF-16 code units, as RFC 8785 section 3.2.3 requires.
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(",")}}`;
  }
  throw new TypeError(`JCS can't encode a ${typeof value}`);
}
