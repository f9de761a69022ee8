// Small DOM helpers of the host console, on top of the shared h() helper.
import { h } from "/static/js/lib/dom.js";
import { t } from "/static/js/lib/i18n.js";

// An element with the shared helper, then properties h() does not know (id, name, href...).
export function el(tag, attrs, props, ...children) {
  const node = h(tag, attrs || {}, ...children);
  for (const [key, value] of Object.entries(props || {})) {
    node[key] = value;
  }
  return node;
}

// A labelled form field; `path` is the field's place in the request (for the node's problems).
export function field(labelKey, control, path) {
  const id = `f-${path.replace(/[^A-Za-z0-9_-]/g, "-")}`;
  control.id = id;
  control.dataset.path = path;
  return h(
    "div",
    { class: "field", "data-field": path },
    h("label", { for: id, "data-i18n": labelKey }, t(labelKey)),
    control,
  );
}

export function input(type, value, props) {
  return el("input", { type }, { value: value ?? "", ...(props || {}) });
}

export function select(options, value) {
  const node = el("select", {}, {});
  for (const [optionValue, labelKey] of options) {
    const option = el("option", { value: optionValue, "data-i18n": labelKey }, {}, t(labelKey));
    option.value = optionValue;
    node.append(option);
  }
  node.value = value;
  return node;
}

export function button(labelKey, onClick, kind) {
  return el(
    "button",
    { type: "button", class: kind ? `btn ${kind}` : "btn", "data-i18n": labelKey, on: { click: onClick } },
    {},
    t(labelKey),
  );
}

// A local datetime-local value for a Date (the browser's own time zone).
export function toLocalInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

// RFC 3339 (UTC) for a datetime-local value, or "" when there is none (the node says so).
export function fromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

// A number typed in a form: the number when it is one, else the text as typed, so that the
// node names the problem in its own words.
export function numberOf(value) {
  const text = String(value).trim();
  if (/^-?\d+$/.test(text)) return Number.parseInt(text, 10);
  return text;
}

// Runs an action on a button: disabled while it runs; resolves with the action's result.
export async function busy(node, action) {
  node.disabled = true;
  try {
    return await action();
  } finally {
    node.disabled = false;
  }
}
