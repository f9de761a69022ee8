// Building the page: elements from data, text always as text. No innerHTML anywhere: what a
// user typed (names, objections, messages, file names) can never become markup.

const SAFE_URL = /^(\/(?!\/)|#|blob:|https?:|data:image\/)/;

function setAttribute(el, key, value) {
  if (key === "on") {
    for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
  } else if (key === "class") {
    el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
  } else if (key === "value") {
    el.value = value;
  } else if (key === "checked" || key === "disabled" || key === "selected" || key === "hidden") {
    el[key] = Boolean(value);
  } else if (key === "style" || key.startsWith("on")) {
    throw new Error(`h(): ${key} is not allowed (CSP: no inline style or script)`);
  } else if ((key === "href" || key === "src") && !SAFE_URL.test(String(value))) {
    throw new Error(`h(): refusing ${key} ${value}`);
  } else {
    el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined && value !== false) setAttribute(el, key, value);
  }
  return append(el, children);
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// A short message at the bottom of the screen; errors stay until dismissed.
export function toast(text, kind = "info") {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const item = h("div", { class: ["toast", `toast-${kind}`] }, text);
  item.append(h("button", { type: "button", class: "toast-close", "aria-label": "×", on: { click: () => item.remove() } }, "×"));
  region.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
  return item;
}

// Saves `blob` as a file named `name` (a document of the node's is downloaded, never shown as
// a page of this origin).
export function download(blob, name) {
  const link = h("a", { class: "hidden" });
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
