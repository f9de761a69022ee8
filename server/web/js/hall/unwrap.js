// Remote decryption in the page (docs/spec/sealed-bid.md sections 1 and 2): the bidder selects
// its own copy of the sealed bid and its X25519 encryption key file; the page reads the clear
// header only (the first bytes of the file), unwraps the file key from the `bidder` stanza with
// WebCrypto (X25519, HKDF-SHA256, AES-256-GCM), checks it against the header's MAC, and hands
// back the 32-byte file key. The key file and the bid never leave the browser: only the file
// key is sent, as `bidroom bidder decrypt` does.

import { ApiError } from "/static/js/lib/api.js";
import { canonicalize } from "/static/js/lib/jcs.js";
import { decryptPkcs8 } from "/static/js/lib/pkcs8.js";
import { fromB64url } from "/static/js/lib/session.js";
import { CheckFailed } from "./verify.js";

const PREFIX = "BIDROOM-SEALED-BID/1\n";
const MAX_HEADER = 65_536;
const encoder = new TextEncoder();

function pemBody(text, label) {
  const match = text.match(new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`));
  return match ? Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0)) : null;
}

// The bidder's X25519 key, plain or protected by a passphrase (as `bidroom key generate`
// writes it): the private key for deriving, and its public key as the header names recipients
// ("x25519:<base64url>").
export async function readEncryptionKey(file, passphrase = "") {
  if (file.size > 16_384) throw new CheckFailed("decrypt.key_unreadable");
  const text = await file.text();
  const sealed = pemBody(text, "ENCRYPTED PRIVATE KEY");
  if (sealed && !passphrase) throw new CheckFailed("decrypt.key_encrypted");
  const der = sealed ? await decryptPkcs8(sealed, passphrase) : pemBody(text, "PRIVATE KEY");
  if (!der) throw new CheckFailed("decrypt.key_unreadable");
  let jwk;
  try {
    const probe = await crypto.subtle.importKey("pkcs8", der, { name: "X25519" }, true, ["deriveBits"]);
    jwk = await crypto.subtle.exportKey("jwk", probe);
  } catch {
    // A wrong passphrase can decrypt to bytes that only fail here.
    throw sealed ? new ApiError({ code: "key_passphrase" }) : new CheckFailed("decrypt.key_not_x25519");
  }
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "X25519" }, false, ["deriveBits"]);
  return { key, publicKey: `x25519:${jwk.x}`, raw: fromB64url(jwk.x) };
}

// The sealed file's clear part: prefix, header length, the header (canonical JSON) and its MAC.
export async function readHeader(file) {
  const lead = new Uint8Array(await file.slice(0, PREFIX.length + 4).arrayBuffer());
  if (new TextDecoder().decode(lead.slice(0, PREFIX.length)) !== PREFIX) throw new CheckFailed("decrypt.not_sealed");
  const length = new DataView(lead.buffer).getUint32(PREFIX.length);
  if (length < 2 || length > MAX_HEADER) throw new CheckFailed("decrypt.not_sealed");
  const end = PREFIX.length + 4 + length;
  const raw = new Uint8Array(await file.slice(PREFIX.length + 4, end).arrayBuffer());
  const mac = new Uint8Array(await file.slice(end, end + 32).arrayBuffer());
  if (raw.length !== length || mac.length !== 32) throw new CheckFailed("decrypt.not_sealed");
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw new CheckFailed("decrypt.not_sealed");
  }
  const signedPart = new Uint8Array(await file.slice(0, end).arrayBuffer());
  return { header, signedPart, mac };
}

async function hkdf(ikm, salt, info) {
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: encoder.encode(info) }, base, 256);
  return new Uint8Array(bits);
}

async function checkMac(fileKey, signedPart, mac) {
  const headerKey = await hkdf(fileKey, new Uint8Array(0), "bidroom sealed-bid v1 header");
  const key = await crypto.subtle.importKey("raw", headerKey, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  if (!(await crypto.subtle.verify("HMAC", key, mac, signedPart))) throw new CheckFailed("decrypt.wrong_key");
}

// The file key of `sealedFile` for the expected tender, lot and bidder, unwrapped with `own`.
export async function unwrapFileKey(sealedFile, own, expected) {
  const { header, signedPart, mac } = await readHeader(sealedFile);
  if (header.tender !== expected.tender || header.lot !== expected.lot || header.bidder !== expected.bidder) {
    throw new CheckFailed("decrypt.other_bid");
  }
  const stanza = (header.recipients || []).find((s) => s.kind === "bidder");
  if (!stanza || stanza.key !== own.publicKey) throw new CheckFailed("decrypt.not_your_key");
  const ephemeral = fromB64url(stanza.ephemeral);
  const peer = await crypto.subtle.importKey("raw", ephemeral, { name: "X25519" }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: peer }, own.key, 256));
  if (shared.every((b) => b === 0)) throw new CheckFailed("decrypt.wrong_key");
  const salt = new Uint8Array(ephemeral.length + own.raw.length);
  salt.set(ephemeral);
  salt.set(own.raw, ephemeral.length);
  const wrapKey = await hkdf(shared, salt, "bidroom sealed-bid v1 wrap");
  const aes = await crypto.subtle.importKey("raw", wrapKey, "AES-GCM", false, ["decrypt"]);
  const binding = encoder.encode(canonicalize({ bidder: header.bidder, lot: header.lot, tender: header.tender, v: 1 }));
  let fileKey;
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12), additionalData: binding }, aes, fromB64url(stanza.wrapped));
    fileKey = new Uint8Array(plain);
  } catch {
    throw new CheckFailed("decrypt.wrong_key");
  }
  if (fileKey.length !== 32) throw new CheckFailed("decrypt.wrong_key");
  await checkMac(fileKey, signedPart, mac);
  return fileKey;
}
