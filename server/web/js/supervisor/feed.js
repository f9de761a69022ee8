// The event feed: every record of the followed streams, newest first, with filters by stream,
// event type prefix, actor role and free text. Everything shown is text, never markup.

import { h, replace } from "/static/js/lib/dom.js";
import { t, formatTime } from "/static/js/lib/i18n.js";
import { eventLabel, streamLabel } from "/static/js/supervisor/labels.js";

const SHOWN = 400; // rows drawn at most; the filters narrow the rest

export function matches(entry, filter) {
  const { record } = entry;
  if (filter.stream && record.stream !== filter.stream) return false;
  if (filter.type && !record.type.startsWith(filter.type)) return false;
  if (filter.role && (!record.actor || record.actor.role !== filter.role)) return false;
  if (filter.text) {
    const needle = filter.text.toLowerCase();
    if (!entry.haystack.includes(needle)) return false;
  }
  return true;
}

function summary(record) {
  const text = JSON.stringify(record.payload || {});
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}

export class Feed {
  constructor(list, countEl, names) {
    this.list = list;
    this.countEl = countEl;
    this.names = names; // id -> display name
    this.entries = [];
    this.seen = new Set(); // "stream#seq": a stream followed again replays what the feed holds
    this.filter = { stream: "", type: "", role: "", text: "" };
    this.pending = false;
  }

  add(record, hash) {
    const key = `${record.stream}#${record.seq}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    const haystack = `${record.type} ${JSON.stringify(record.actor)} ${JSON.stringify(record.payload)}`.toLowerCase();
    this.entries.push({ record, hash, haystack });
    this.schedule();
    return true;
  }

  setFilter(changes) {
    this.filter = { ...this.filter, ...changes };
    this.render();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    const shown = [];
    let total = 0;
    for (let i = this.entries.length - 1; i >= 0; i -= 1) {
      const entry = this.entries[i];
      if (!matches(entry, this.filter)) continue;
      total += 1;
      if (shown.length < SHOWN) shown.push(this.row(entry));
    }
    replace(this.list, shown.length ? shown : h("li", { class: "empty" }, t("sup.feed.empty")));
    this.countEl.textContent = t("sup.feed.count", { shown: shown.length, total, all: this.entries.length });
  }

  row({ record }) {
    const actor = record.actor || {};
    const name = this.names.get(actor.id);
    return h(
      "li",
      { class: "feed-row", "data-stream": record.stream, "data-seq": record.seq, "data-type": record.type },
      h("span", { class: "feed-time" }, formatTime(record.time)),
      h("span", { class: "feed-stream" }, `${streamLabel(record.stream)} #${record.seq}`),
      h("span", { class: "feed-type", title: record.type }, eventLabel(record.type)),
      h("span", { class: "feed-actor" }, `${name || actor.id || ""} · ${t(`sup.role.${actor.role}`)}`),
      h("span", { class: "feed-payload" }, summary(record)),
    );
  }
}
