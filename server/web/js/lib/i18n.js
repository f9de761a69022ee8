// The pages' message catalogue: server/web/i18n/<page>.json, each {"zh-CN": {...}, "en": {...}}
// with the same keys. Chinese is the default; English is one click away. A missing key is a
// defect, reported on the console (the browser tests fail on it).

const LANGS = ["zh-CN", "en"];
const STORED = "bidroom.lang"; // a preference, not a secret: the only thing a page stores
const catalogue = { "zh-CN": {}, en: {} };
const listeners = [];

function initial() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "en" || asked === "zh-CN") return asked;
  const stored = localStorage.getItem(STORED);
  return LANGS.includes(stored) ? stored : "zh-CN";
}

let current = initial();

export async function loadCatalogue(...pages) {
  for (const page of ["common", ...pages]) {
    const response = await fetch(`/static/i18n/${page}.json`, { cache: "no-cache" });
    if (!response.ok) throw new Error(`no catalogue ${page}`);
    const data = await response.json();
    for (const l of LANGS) Object.assign(catalogue[l], data[l]);
  }
  document.documentElement.lang = current;
}

export function lang() {
  return current;
}

export function has(key) {
  return key in catalogue[current];
}

export function t(key, params = {}) {
  let text = catalogue[current][key];
  if (text === undefined) {
    console.error(`missing message ${key} (${current})`);
    return key;
  }
  for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

export function setLang(l) {
  if (!LANGS.includes(l)) return;
  current = l;
  localStorage.setItem(STORED, l);
  document.documentElement.lang = l;
  applyTranslations(document);
  for (const fn of listeners) fn(l);
}

// Pages re-render what they built from data when the language changes.
export function onLangChange(fn) {
  listeners.push(fn);
}

export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
}

// A refusal as a sentence in the page's language: by the rule that refused it, else by its
// code. The node's own message (English) is kept for the details line.
export function errorText(error) {
  let text;
  if (error.rule && has(`rule.${error.rule}`)) text = t(`rule.${error.rule}`);
  else if (has(`code.${error.code}`)) text = t(`code.${error.code}`);
  else text = t("code.unknown", { status: error.status || "-" });
  if (error.cite) text += t("error.cite", { cite: error.cite });
  return text;
}

// The fields a refusal names (`problems`), by path, for showing next to the inputs.
export function problemsByPath(error) {
  const found = new Map();
  for (const problem of error.problems || []) found.set(problem.path, problem.message);
  return found;
}

export function formatTime(iso) {
  if (!iso) return "";
  const options = { dateStyle: "medium", timeStyle: "medium", hour12: false };
  return new Intl.DateTimeFormat(current, options).format(new Date(iso));
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const parts = { days: Math.floor(s / 86400), hours: Math.floor((s % 86400) / 3600), minutes: Math.floor((s % 3600) / 60), seconds: s % 60 };
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(parts.hours)}:${pad(parts.minutes)}:${pad(parts.seconds)}`;
  return parts.days ? t("time.days_clock", { days: parts.days, clock }) : clock;
}
