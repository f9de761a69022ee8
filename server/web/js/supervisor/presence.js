// Who is online, at which site (GET /api/presence): read again every few seconds, since
// presence has no log of its own; a workstation dropping out is also an alert (presence.left).

import { api } from "/static/js/lib/api.js";
import { h, replace } from "/static/js/lib/dom.js";
import { errorText, formatTime, t } from "/static/js/lib/i18n.js";

const POLL_MS = 4000;

export class Presence {
  constructor(root, names) {
    this.root = root;
    this.names = names;
    this.online = [];
    this.error = null;
  }

  start() {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  async refresh() {
    try {
      this.online = (await api("GET", "/api/presence")).online;
      this.error = null;
    } catch (error) {
      this.error = errorText(error);
    }
    this.render();
  }

  render() {
    if (this.error) {
      replace(this.root, h("p", { class: "error", role: "alert" }, this.error));
      return;
    }
    const sites = new Map();
    for (const entry of this.online) {
      const site = entry.site || t("sup.presence.no_site");
      if (!sites.has(site)) sites.set(site, []);
      sites.get(site).push(entry);
    }
    if (sites.size === 0) {
      replace(this.root, h("p", { class: "muted" }, t("sup.presence.nobody")));
      return;
    }
    replace(this.root, [...sites].map(([site, entries]) => this.site(site, entries)));
  }

  site(site, entries) {
    return h(
      "div",
      { class: "site", "data-site": site },
      h("h3", {}, t("sup.presence.site", { site, count: entries.length })),
      h(
        "ul",
        { class: "people" },
        entries.map((e) =>
          h(
            "li",
            { class: "person", "data-participant": e.participant, "data-role": e.role },
            h("strong", {}, this.names.get(e.participant) || e.participant),
            h("span", { class: "muted" }, ` ${e.participant} · ${t(`sup.role.${e.role}`)}`),
            e.tender ? h("span", { class: "tag" }, e.tender) : null,
            e.workstation ? h("span", { class: "tag" }, e.workstation) : null,
            h("span", { class: "muted since" }, t("sup.presence.since", { time: formatTime(e.since) })),
          ),
        ),
      ),
    );
  }
}
