// A decrypted bid package (docs/spec/sealed-bid.md section 4), unpacked in the page:
//   "BIDROOM-BID-PACKAGE/1\n" || u32be(len(SHEET)) || SHEET || ARCHIVE (a ZIP of the documents).
// The ZIP reader knows what the bidder's tools write: stored and deflated entries, no ZIP64,
// no encryption. Inflating uses the browser's own DecompressionStream("deflate-raw").

const PREFIX = "BIDROOM-BID-PACKAGE/1\n";
const MAX_SHEET = 64 * 1024;
const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class PackageError extends Error {
  constructor(key) {
    super(key);
    this.key = key; // a catalogue key, shown with t()
  }
}

/** Split a package into its opening sheet (parsed JSON) and the bytes of its archive. */
export function splitPackage(bytes) {
  const prefix = new TextEncoder().encode(PREFIX);
  if (bytes.length < prefix.length + 4 || !prefix.every((b, i) => bytes[i] === b)) {
    throw new PackageError("expert.package.not_package");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(prefix.length, false);
  const start = prefix.length + 4;
  if (length > MAX_SHEET || start + length > bytes.length) {
    throw new PackageError("expert.package.not_package");
  }
  let sheet;
  try {
    sheet = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + length)));
  } catch {
    throw new PackageError("expert.package.not_package");
  }
  return { sheet, archive: bytes.subarray(start + length) };
}

/** The entries of a ZIP archive: [{name, method, offset, compressedSize, size}], files only. */
export function listArchive(archive) {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const end = findEnd(view);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const decoder = new TextDecoder("utf-8");
  const entries = [];
  for (let i = 0; i < count; i += 1) {
    if (at + 46 > archive.length || view.getUint32(at, true) !== CENTRAL) {
      throw new PackageError("expert.package.bad_archive");
    }
    const method = view.getUint16(at + 10, true);
    const compressedSize = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const offset = view.getUint32(at + 42, true);
    if (compressedSize === 0xffffffff || size === 0xffffffff || offset === 0xffffffff) {
      throw new PackageError("expert.package.bad_archive"); // ZIP64: not written by our tools
    }
    const name = decoder.decode(archive.subarray(at + 46, at + 46 + nameLength));
    if (!name.endsWith("/")) {
      entries.push({ name, method, offset, compressedSize, size });
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEnd(view) {
  const last = view.byteLength - 22;
  const first = Math.max(0, last - 0xffff);
  for (let at = last; at >= first; at -= 1) {
    if (view.getUint32(at, true) === EOCD) {
      return at;
    }
  }
  throw new PackageError("expert.package.bad_archive");
}

/** The bytes of one entry, inflated when it is deflated. */
export async function readEntry(archive, entry) {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  if (entry.offset + 30 > archive.length || view.getUint32(entry.offset, true) !== LOCAL) {
    throw new PackageError("expert.package.bad_archive");
  }
  const start = entry.offset + 30 + view.getUint16(entry.offset + 26, true) + view.getUint16(entry.offset + 28, true);
  const data = archive.subarray(start, start + entry.compressedSize);
  if (data.length !== entry.compressedSize) {
    throw new PackageError("expert.package.bad_archive");
  }
  if (entry.method === 0) {
    return data.slice();
  }
  if (entry.method !== 8) {
    throw new PackageError("expert.package.unsupported");
  }
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  try {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    throw new PackageError("expert.package.bad_archive");
  }
}

// What the page shows inline, by the file's extension (never sniffed from its bytes).
const INLINE = {
  pdf: { type: "application/pdf", show: "pdf" },
  png: { type: "image/png", show: "image" },
  jpg: { type: "image/jpeg", show: "image" },
  jpeg: { type: "image/jpeg", show: "image" },
  gif: { type: "image/gif", show: "image" },
  webp: { type: "image/webp", show: "image" },
  txt: { type: "text/plain", show: "text" },
};

/** How to show a file: {type, show: "pdf" | "image" | "text" | "download"}. */
export function kindOf(name) {
  const dot = name.lastIndexOf(".");
  const extension = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  return INLINE[extension] ?? { type: "application/octet-stream", show: "download" };
}

/** The last part of an archive path: what a download is saved as. */
export function baseName(name) {
  const parts = name.split("/").filter((p) => p !== "");
  return parts.length ? parts[parts.length - 1] : "file";
}
