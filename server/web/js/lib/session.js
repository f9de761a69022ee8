// Who the page speaks for: a participant logged in with its own Ed25519 key, or a visitor.
//
// The key file never leaves the browser: it is read from the file the participant selects,
// imported as a non-extractable WebCrypto key, and held in memory with the session token.
// Nothing is stored (no cookie, no localStorage): closing the tab ends the session, and a
// request this page did not make carries no credential, so CSRF has nothing to ride on.

import { ApiError, api, onUnauthorized, setBearer } from "./api.js";
import { canonicalize } from "./jcs.js";
import { decryptPkcs8 } from "./pkcs8.js";

const RENEW_BEFORE_MS = 60_000;
const encoder = new TextEncoder();
const listeners = [];
let state = null; // {participant, role, scopes, expiresAt, token, key}
let offsetMs = 0; // node clock − this machine's clock
let nodeInfo = null;
let timer = null;

export function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function fromB64url(text) {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// The node's clock, learnt from /api/node (and the live channel's pongs): a participant whose
// computer clock is off still signs in and sees the right countdown.
export async function syncClock() {
  const before = Date.now();
  nodeInfo = await api("GET", "/api/node");
  const after = Date.now();
  learnTime(nodeInfo.server_time, (before + after) / 2);
  return nodeInfo;
}

export function learnTime(serverTime, at = Date.now()) {
  offsetMs = Date.parse(serverTime) - at;
}

export function serverNow() {
  return new Date(Date.now() + offsetMs);
}

export async function node() {
  return nodeInfo || syncClock();
}

function pemBody(text, label) {
  const match = text.match(new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`));
  if (!match) return null;
  return Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

// Whether a key file is protected by a passphrase (the login panel then asks for it).
export async function isProtected(file) {
  return file.size <= 16_384 && (await file.text()).includes("BEGIN ENCRYPTED PRIVATE KEY");
}

// A key file the participant selected: PKCS#8 PEM of an Ed25519 key, as `bidroom key generate`
// writes it, plain or protected by a passphrase. Its public key ("ed25519:...") is shown so the
// participant can check it.
export async function readKeyFile(file, passphrase = "") {
  if (file.size > 16_384) throw new ApiError({ code: "key_unreadable" });
  const text = await file.text();
  let der = pemBody(text, "PRIVATE KEY");
  const sealed = pemBody(text, "ENCRYPTED PRIVATE KEY");
  if (sealed && !passphrase) throw new ApiError({ code: "key_encrypted" });
  if (sealed) der = await decryptPkcs8(sealed, passphrase);
  if (!der) throw new ApiError({ code: "key_unreadable" });
  let jwk;
  try {
    const probe = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    jwk = await crypto.subtle.exportKey("jwk", probe);
  } catch {
    // A wrong passphrase can decrypt to bytes that only fail here.
    throw new ApiError({ code: sealed ? "key_passphrase" : "key_not_ed25519" });
  }
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  return { key, publicKey: `ed25519:${jwk.x}` };
}

function signed(label, document) {
  const head = encoder.encode(`bidroom-sig-v1\0${label}\0`);
  const body = encoder.encode(canonicalize(document));
  const message = new Uint8Array(head.length + body.length);
  message.set(head);
  message.set(body, head.length);
  return message;
}

async function signWith(key, label, document) {
  return b64url(await crypto.subtle.sign({ name: "Ed25519" }, key, signed(label, document)));
}

// Challenge and response (docs/protocol.md 2.2), signed with the key in the page.
async function logIn(participant, key) {
  await syncClock();
  const challenge = await api("POST", "/api/auth/challenge", { participant });
  const time = serverNow().toISOString();
  const document = {
    type: "login",
    challenge: challenge.challenge,
    participant,
    nonce: challenge.nonce,
    node: challenge.node,
    time,
  };
  const signature = await signWith(key, "login", document);
  return api("POST", "/api/auth/login", { challenge: challenge.challenge, participant, time, signature });
}

function begin(granted, key) {
  state = {
    participant: granted.participant,
    role: granted.role,
    scopes: granted.scopes,
    expiresAt: granted.expires_at,
    token: granted.token,
    key,
  };
  setBearer(granted.token);
  clearTimeout(timer);
  const left = Date.parse(granted.expires_at) - serverNow().getTime();
  timer = setTimeout(() => renew().catch(() => end()), Math.max(5_000, left - RENEW_BEFORE_MS));
  for (const fn of listeners) fn(current());
  return current();
}

export async function login(participant, key) {
  return begin(await logIn(participant, key), key);
}

// A read-only visitor of public openings: role `public`, no key (docs/pages.md 3).
export async function visit() {
  await syncClock();
  return begin(await api("POST", "/api/auth/visitor"), null);
}

// A fresh token before the old one expires (or after a 401): the same key signs again.
export async function renew() {
  if (!state) throw new ApiError({ status: 401, code: "unauthorized" });
  const granted = state.key ? await logIn(state.participant, state.key) : await api("POST", "/api/auth/visitor");
  return begin(granted, state.key);
}

export function end() {
  state = null;
  setBearer(null);
  clearTimeout(timer);
  for (const fn of listeners) fn(null);
}

export function current() {
  return state && { participant: state.participant, role: state.role, scopes: state.scopes, expiresAt: state.expiresAt };
}

export function token() {
  return state ? state.token : null;
}

export function onSession(fn) {
  listeners.push(fn);
}

// The participant's signature over `document` for purpose `label` (docs/protocol.md 1.2).
export async function sign(label, document) {
  if (!state || !state.key) throw new ApiError({ code: "no_key" });
  return signWith(state.key, label, document);
}

onUnauthorized(async () => {
  if (state) await renew();
});
