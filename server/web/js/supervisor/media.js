// Live media and recordings for supervisors (docs/media.md). The sources being published are
// read from the log (media.session_started / media.session_ended, seen by supervisors only) and
// watched on demand, one recvonly WebRTC session each; a tender's recorded segments are listed
// and played in the page.

import { api, apiBlob } from "/static/js/lib/api.js";
import { h, replace, toast } from "/static/js/lib/dom.js";
import { errorText, formatTime, t } from "/static/js/lib/i18n.js";
import { negotiate, receiver } from "/static/js/lib/media.js";

export function sourceLabel(room, source) {
  if (room === "opening") return t(`sup.media.opening_${source === "host" ? "host" : "program"}`);
  return t("sup.media.workstation", { lot: room, workstation: source });
}

export class MediaBoard {
  constructor(root, live) {
    this.root = root;
    this.live = live;
    this.sources = new Map(); // "tender/room/source" -> {tender, room, source, session, watching}
  }

  record(record) {
    const p = record.payload || {};
    if (record.type === "media.session_started" && p.direction === "publish") {
      const key = `${record.stream}/${p.room}/${p.source}`;
      const old = this.sources.get(key);
      if (old) this.stop(old);
      this.sources.set(key, { key, tender: record.stream, room: p.room, source: p.source, session: p.session, watching: null });
      this.render();
    } else if (record.type === "media.session_ended") {
      for (const [key, s] of this.sources) {
        if (s.session === p.session) {
          this.stop(s);
          this.sources.delete(key);
          this.render();
        }
      }
    }
  }

  // A watch session the node ended (media_ended on the live channel).
  ended(session) {
    for (const s of this.sources.values()) {
      if (s.watching && s.watching.session === session) this.stop(s, false);
    }
  }

  render() {
    if (this.sources.size === 0) {
      replace(this.root, h("p", { class: "muted" }, t("sup.media.none")));
      return;
    }
    const tiles = [...this.sources.values()].map((s) => {
      if (!s.tile) s.tile = this.tile(s);
      return s.tile;
    });
    replace(this.root, h("div", { class: "media-grid" }, tiles));
  }

  tile(s) {
    const video = h("video", { autoplay: true, playsinline: true, class: "live-video", hidden: true });
    video.muted = true;
    const button = h("button", { type: "button", class: "watch" }, t("sup.media.watch"));
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        if (s.watching) this.stop(s);
        else await this.watch(s, video);
      } catch (error) {
        toast(errorText(error), "error");
        this.stop(s, false);
      } finally {
        button.disabled = false;
        button.textContent = t(s.watching ? "sup.media.stop" : "sup.media.watch");
        video.hidden = !s.watching;
      }
    });
    return h(
      "article",
      { class: "media-tile", "data-tender": s.tender, "data-room": s.room, "data-source": s.source },
      h("header", {}, h("strong", {}, sourceLabel(s.room, s.source)), h("span", { class: "muted mono" }, ` ${s.tender}`)),
      video,
      h("div", { class: "actions" }, button),
    );
  }

  async watch(s, video) {
    const pc = receiver(video);
    s.watching = { pc, session: null };
    const answer = await negotiate(this.live, pc, { type: "media_watch", tender: s.tender, room: s.room, source: s.source });
    s.watching.session = answer.session;
  }

  stop(s, tell = true) {
    if (!s.watching) return;
    if (tell && s.watching.session) this.live.send({ type: "media_close", session: s.watching.session });
    s.watching.pc.close();
    s.watching = null;
    if (s.tile) {
      const video = s.tile.querySelector("video");
      video.srcObject = null;
      video.hidden = true;
      s.tile.querySelector("button.watch").textContent = t("sup.media.watch");
    }
  }
}

function segmentPath(tender, name) {
  return `/api/tenders/${encodeURIComponent(tender)}/recordings/${name.split("/").map(encodeURIComponent).join("/")}`;
}

async function play(item, tender, slot) {
  try {
    const blob = await apiBlob(segmentPath(tender, item.name));
    const tag = item.track === "audio" || item.track === "speech" ? "audio" : "video";
    replace(slot, h(tag, { controls: true, src: URL.createObjectURL(blob), class: "recording-player" }));
  } catch (error) {
    toast(errorText(error), "error");
  }
}

function recordingRow(item, tender) {
  const slot = h("div", { class: "player" });
  const playable = !item.expired && item.present !== false;
  const index = item.name.split("/").pop().replace(/\.webm$/, "");
  const track = ["video", "audio", "speech", "screen"].includes(item.track) ? t(`sup.media.track.${item.track}`) : item.track;
  return h(
    "li",
    { class: "recording", "data-name": item.name, "data-track": item.track },
    h("span", {}, `${sourceLabel(item.room, item.source)} · ${track} #${index}`),
    h("span", { class: "muted" }, ` ${formatTime(item.started)} · ${t("sup.media.seconds", { seconds: Math.round(item.duration_ms / 100) / 10 })} · ${t("sup.media.size", { kb: Math.ceil(item.size / 1024) })}`),
    item.expired ? h("span", { class: "tag" }, t("sup.media.expired")) : null,
    playable ? h("button", { type: "button", class: "play link", on: { click: () => play(item, tender, slot) } }, t("sup.media.play")) : null,
    slot,
  );
}

// A tender's recordings (GET .../recordings), each segment playable in the page.
export async function showRecordings(root, tender) {
  replace(root, h("p", { class: "muted" }, t("sup.loading")));
  let listing;
  try {
    listing = await api("GET", `/api/tenders/${encodeURIComponent(tender)}/recordings`);
  } catch (error) {
    replace(root, h("p", { class: "error", role: "alert" }, errorText(error)));
    return;
  }
  const items = listing.recordings;
  replace(
    root,
    h("h3", {}, t("sup.media.recordings_of", { tender })),
    items.length === 0 ? h("p", { class: "muted" }, t("sup.media.no_recordings")) : h("ol", { class: "recordings" }, items.map((item) => recordingRow(item, tender))),
  );
}
