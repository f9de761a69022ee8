// Countdowns on the node's clock: every element with `data-until` (an RFC 3339 time) shows the
// time left until then, once a second, for as long as it is in the page.
import { h } from "/static/js/lib/dom.js";
import { formatDuration } from "/static/js/lib/i18n.js";
import { serverNow } from "/static/js/lib/session.js";

let timer = null;

function tick() {
  const now = serverNow().getTime();
  for (const node of document.querySelectorAll("[data-until]")) {
    node.textContent = formatDuration((Date.parse(node.dataset.until) - now) / 1000);
  }
}

export function countdown(until) {
  const node = h("span", { class: "countdown", "data-until": until });
  if (!timer) timer = setInterval(tick, 1000);
  node.textContent = formatDuration((Date.parse(until) - serverNow().getTime()) / 1000);
  return node;
}
