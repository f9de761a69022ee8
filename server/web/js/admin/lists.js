// The enrolled participants, the expert pool by specialty and region, the sites.

import { h, replace } from "/static/js/lib/dom.js";
import { has, t } from "/static/js/lib/i18n.js";

// Attributes are free-form; those the page knows are named in the page's language.
function attributeName(key) {
  return has(`adm.attr.${key}`) ? t(`adm.attr.${key}`) : key;
}

function attributes(p) {
  return Object.entries(p.attributes || {}).map(([k, v]) => h("span", { class: "attr", "data-attribute": k }, h("span", { class: "muted" }, `${attributeName(k)}: `), v));
}

function shortKey(key) {
  return key ? `${key.slice(0, 16)}…` : "—";
}

export function renderParticipants(tbody, participants) {
  if (participants.length === 0) {
    replace(tbody, h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("adm.list.none"))));
    return;
  }
  replace(
    tbody,
    participants.map((p) =>
      h(
        "tr",
        { "data-participant": p.id, "data-role": p.role },
        h("td", { class: "mono" }, p.id),
        h("td", { class: "name" }, p.name),
        h("td", {}, t(`adm.role.${p.role}`)),
        h("td", { class: "attrs" }, attributes(p)),
        h("td", { class: "mono keys", title: [p.public_key, p.encryption_key].filter(Boolean).join("\n") }, shortKey(p.public_key), p.encryption_key ? h("br") : null, p.encryption_key ? shortKey(p.encryption_key) : null),
      ),
    ),
  );
}

// Experts per specialty and region: what a draw can find (recordings/draw.py reads these).
export function renderPool(root, participants) {
  const experts = participants.filter((p) => p.role === "expert");
  if (experts.length === 0) {
    replace(root, h("p", { class: "muted" }, t("adm.pool.none")));
    return;
  }
  const table = new Map();
  for (const e of experts) {
    const specialty = (e.attributes && e.attributes.specialty) || t("adm.pool.unset");
    const region = (e.attributes && e.attributes.region) || t("adm.pool.unset");
    if (!table.has(specialty)) table.set(specialty, new Map());
    const row = table.get(specialty);
    row.set(region, (row.get(region) || 0) + 1);
  }
  replace(
    root,
    h(
      "ul",
      { class: "pool" },
      [...table].map(([specialty, regions]) =>
        h("li", { "data-specialty": specialty }, h("strong", {}, specialty), " ", [...regions].map(([region, n]) => h("span", { class: "tag" }, t("adm.pool.region_count", { region, count: n })))),
      ),
    ),
  );
}

export function renderSites(root, participants) {
  const nodes = participants.filter((p) => p.role === "node");
  if (nodes.length === 0) {
    replace(root, h("p", { class: "muted" }, t("adm.sites.none")));
    return;
  }
  replace(
    root,
    h(
      "ul",
      { class: "sites" },
      nodes.map((n) => {
        const site = (n.attributes && n.attributes.site) || t("adm.pool.unset");
        const stations = ((n.attributes && n.attributes.workstations) || "").split(";").map((s) => s.trim()).filter(Boolean);
        return h(
          "li",
          { "data-node": n.id },
          h("strong", {}, t("adm.sites.site", { site })),
          ` ${n.name} (${n.id}) `,
          stations.length ? stations.map((s) => h("span", { class: "tag" }, s)) : h("span", { class: "muted" }, t("adm.sites.no_workstations")),
        );
      }),
    ),
  );
}
