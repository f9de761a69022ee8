// 远程监控窗口: the supervisor's console. Read-only: every tender and room, the full event feed of
// the followed streams with filters, alerts, presence per site, and each stream's hash chain
// verified in this page as its records arrive.

import { api } from "/static/js/lib/api.js";
import { $, h, toast } from "/static/js/lib/dom.js";
import { errorText, formatTime, onLangChange, t } from "/static/js/lib/i18n.js";
import { Live } from "/static/js/lib/live.js";
import { node } from "/static/js/lib/session.js";
import { setLiveStatus, startPage } from "/static/js/lib/shell.js";
import { ALERT_KINDS, AlertBoard, alertOf } from "/static/js/supervisor/alerts.js";
import { Chain, importNodeKey } from "/static/js/supervisor/chain.js";
import { Feed } from "/static/js/supervisor/feed.js";
import { BOX_SUFFIX, streamLabel } from "/static/js/supervisor/labels.js";
import { MediaBoard, showRecordings } from "/static/js/supervisor/media.js";
import { Presence } from "/static/js/supervisor/presence.js";
import { showRoom } from "/static/js/supervisor/room.js";
import { TenderBoard } from "/static/js/supervisor/tenders.js";

// A live connection follows at most 16 streams: the system log and seven tenders with their boxes.
const MAX_TENDERS = 7;
const TENDERS_POLL_MS = 10_000;
const TYPE_PREFIXES = ["tender.", "bid.", "opening.", "lot.", "box.", "evaluation.", "participant.", "auth.", "access.", "command.", "presence.", "media.", "audit."];
const ROLES = ["admin", "host", "bidder", "expert", "supervisor", "custodian", "public", "node", "anonymous"];

const names = new Map();
const chains = new Map();
const unfollows = new Map(); // stream -> the function that stops following it
let nodeKey = null;
let live;
let feed;
let board;
let tenders;
let presence;
let media;

function alertItem(alert) {
  // A chain alert names its stream and reason by key, so that it reads in either language.
  const params = alert.kind === "chain"
    ? { seq: alert.seq, stream: streamLabel(alert.stream), reason: t(`sup.chain.reason.${alert.reason}`) }
    : alert.params || {};
  return h(
    "li",
    { class: ["alert", `alert-${alert.kind}`], "data-kind": alert.kind, "data-stream": alert.stream, "data-seq": alert.seq ?? "" },
    h("span", { class: "badge" }, t(`sup.alert.kind.${alert.kind}`)),
    h("span", { class: "alert-text" }, t(alert.key, params)),
    h("span", { class: "muted" }, ` ${streamLabel(alert.stream)}${alert.seq ? ` #${alert.seq}` : ""} ${alert.time ? formatTime(alert.time) : ""}`),
  );
}

function chainChanged(state) {
  if (state.failed !== null) {
    board.add({ kind: "chain", key: "sup.alert.chain", stream: state.stream, seq: state.failed, reason: state.reason });
  }
  renderChains();
  scheduleTenders();
}

function renderChains() {
  const system = chains.get("system");
  const el = $("#system-chain");
  if (!system || !el) return;
  const s = system.state;
  el.dataset.chain = s.failed !== null ? "failed" : "verified";
  el.textContent = s.failed !== null
    ? t("sup.chain.failed", { seq: s.failed, reason: t(`sup.chain.reason.${s.reason}`) })
    : t("sup.chain.verified", { seq: s.verified });
}

let tendersPending = false;
function scheduleTenders() {
  if (tendersPending) return;
  tendersPending = true;
  setTimeout(() => {
    tendersPending = false;
    tenders.render();
  }, 200);
}

function received(record, hash) {
  const chain = chains.get(record.stream);
  if (chain) chain.add(record, hash);
  if (!feed.add(record, hash)) return; // a stream followed again: its chain is checked anew, once
  if (record.type === "participant.enrolled" && record.payload) names.set(record.payload.id, record.payload.name);
  media.record(record);
  const alert = alertOf(record, (id) => names.get(id) || id);
  if (alert) board.add(alert);
  if (!record.stream.endsWith(BOX_SUFFIX) && record.stream !== "system") scheduleRefresh();
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => tenders.refresh(), 600);
}

function follow(stream) {
  if (chains.has(stream)) return;
  chains.set(stream, new Chain(stream, chainChanged, nodeKey));
  const stop = live.follow(stream, 0, received, { onError: (error) => toast(`${streamLabel(stream)}: ${errorText(error)}`, "error") });
  unfollows.set(stream, stop);
  addStreamOption(stream);
}

// Frees a tender's two subscriptions for another; its records stay in the feed.
function unfollowTender(id) {
  for (const stream of [id, id + BOX_SUFFIX]) {
    const stop = unfollows.get(stream);
    if (stop) stop();
    unfollows.delete(stream);
    chains.delete(stream);
    const option = $("#filter-stream").querySelector(`option[data-stream="${CSS.escape(stream)}"]`);
    if (option) option.remove();
  }
  tenders.render();
}

function followTender(id) {
  const followed = [...chains.keys()].filter((s) => s !== "system" && !s.endsWith(BOX_SUFFIX));
  if (followed.includes(id) || followed.length >= MAX_TENDERS) return false;
  follow(id);
  follow(id + BOX_SUFFIX);
  return true;
}

function addStreamOption(stream) {
  $("#filter-stream").append(h("option", { value: stream, "data-stream": stream }, streamLabel(stream)));
}

function setUpFilters() {
  const stream = $("#filter-stream");
  const type = $("#filter-type");
  const role = $("#filter-role");
  const text = $("#filter-text");
  $("#type-prefixes").append(...TYPE_PREFIXES.map((p) => h("option", { value: p })));
  role.append(...ROLES.map((r) => h("option", { value: r, "data-i18n": `sup.role.${r}` }, t(`sup.role.${r}`))));
  stream.addEventListener("change", () => feed.setFilter({ stream: stream.value }));
  type.addEventListener("input", () => feed.setFilter({ type: type.value.trim() }));
  role.addEventListener("change", () => feed.setFilter({ role: role.value }));
  text.addEventListener("input", () => feed.setFilter({ text: text.value.trim() }));
  $("#feed-filters").addEventListener("submit", (event) => event.preventDefault());
}

function setUpAlertCounts() {
  const counts = $("#alert-counts");
  counts.append(...ALERT_KINDS.map((k) => h("li", { "data-kind": k }, h("span", { "data-i18n": `sup.alert.kind.${k}` }, t(`sup.alert.kind.${k}`)), " ", h("span", { class: "count" }, "0"))));
  return counts;
}

async function loadNames() {
  const { participants } = await api("GET", "/api/admin/participants");
  for (const p of participants) names.set(p.id, p.name);
}

function watch(tender) {
  followTender(tender);
  const select = $("#filter-stream");
  select.value = tender;
  feed.setFilter({ stream: tender });
  $("#feed").scrollIntoView({ behavior: "smooth" });
}

async function room(tender, lot) {
  const panel = $("#room");
  panel.hidden = false;
  await showRoom(panel, tender, lot);
}

// A tender the page does not follow yet: followed if the live channel has room for it.
function followAsked(tender) {
  if (!followTender(tender)) toast(t("sup.tenders.too_many", { max: MAX_TENDERS }), "error");
  tenders.render();
}

async function recordings(tender) {
  const panel = $("#recordings");
  panel.hidden = false;
  await showRecordings(panel, tender);
}

// New tenders are followed as they appear (while there is room); one the supervisor stopped
// following is not taken up again by itself.
const seen = new Set();
async function refreshTenders() {
  const list = await tenders.refresh();
  for (const tender of list) {
    if (!seen.has(tender.id)) followTender(tender.id);
    seen.add(tender.id);
  }
  tenders.render();
}

async function main() {
  await startPage({ page: "supervisor", titleKey: "sup.title", roles: ["supervisor"] });
  $("#console").hidden = false;
  const counts = setUpAlertCounts();
  setUpFilters();
  feed = new Feed($("#feed-list"), $("#feed-count"), names);
  board = new AlertBoard($("#alert-list"), counts, alertItem);
  tenders = new TenderBoard($("#tender-list"), { chains, onWatch: watch, onRoom: room, onRecordings: recordings, onFollow: followAsked, onUnfollow: unfollowTender });
  await loadNames();
  nodeKey = await importNodeKey((await node()).public_key);
  live = new Live({ onStatus: setLiveStatus, onMessage: (m) => m.type === "media_ended" && media.ended(m.session) });
  media = new MediaBoard($("#media-grid"), live);
  media.render();
  follow("system");
  await refreshTenders();
  setInterval(refreshTenders, TENDERS_POLL_MS);
  const asked = location.pathname.match(/^\/supervisor\/(t-[0-9]{8}-[0-9a-f]{12})$/);
  if (asked) watch(asked[1]); // /supervisor/{tender}: that tender's feed
  presence = new Presence($("#presence-list"), names);
  presence.start();
  feed.render();
  onLangChange(redraw);
  document.body.dataset.ready = "true";
}

// A language switch redraws what was built from data; the filters keep their values.
function redraw() {
  feed.render();
  board.redraw();
  for (const option of $("#filter-stream").querySelectorAll("option[data-stream]")) option.textContent = streamLabel(option.dataset.stream);
  tenders.render();
  renderChains();
  presence.render();
  media.render();
}

main();
