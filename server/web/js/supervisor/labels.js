// Names of streams and event types in the page's language; an event type the catalogue does not
// name yet is shown as it is written in the log.

import { has, t } from "/static/js/lib/i18n.js";

export const BOX_SUFFIX = "-box";

export function eventLabel(type) {
  const key = `sup.event.${type}`;
  return has(key) ? t(key) : type;
}

export function streamLabel(stream) {
  if (stream === "system") return t("sup.stream.system");
  if (stream.endsWith(BOX_SUFFIX)) return t("sup.stream.box", { tender: stream.slice(0, -BOX_SUFFIX.length) });
  return stream;
}
