// What every page shares: the header (brand, navigation, language, connection status, who is
// signed in) and the login panel.

import { $, h, replace, toast } from "./dom.js";
import { applyTranslations, errorText, lang, loadCatalogue, onLangChange, setLang, t } from "./i18n.js";
import { current, end, isProtected, login, onSession, readKeyFile, visit } from "./session.js";

const NAV = [
  ["/", "nav.home"],
  ["/host", "nav.host"],
  ["/expert", "nav.expert"],
  ["/supervisor", "nav.supervisor"],
  ["/admin", "nav.admin"],
];
const KEY_FILE_NAME = /^(p-[a-z0-9]{4,32})\.pem$/;

function header(titleKey) {
  const switcher = h("button", {
    type: "button",
    class: "lang-switch",
    id: "lang-switch",
    on: { click: () => setLang(lang() === "en" ? "zh-CN" : "en") },
  });
  const who = h("span", { id: "who", class: "who" });
  const logout = h("button", { type: "button", id: "logout", class: "link", hidden: true, "data-i18n": "shell.logout", on: { click: () => { end(); location.reload(); } } });
  const nav = h("nav", { "aria-label": "nav" }, NAV.map(([href, key]) => h("a", { href, "data-i18n": key, ...(location.pathname === href ? { "aria-current": "page" } : {}) })));
  const bar = h(
    "header",
    { class: "topbar" },
    h("a", { href: "/", class: "brand", "data-i18n": "shell.brand" }),
    nav,
    h("span", { class: "spacer" }),
    h("span", { id: "live-status", class: "live-status", "data-state": "offline" }),
    who,
    logout,
    switcher,
  );
  const render = () => {
    document.title = `${t(titleKey)} · ${t("shell.brand")}`;
    switcher.textContent = lang() === "en" ? "中文" : "English";
    const session = current();
    who.textContent = session ? t("shell.signed_in_as", { participant: session.participant, role: t(`role.${session.role}`) }) : "";
    logout.hidden = !session;
    setLiveStatus($("#live-status").dataset.state);
  };
  onLangChange(render);
  onSession(render);
  document.body.prepend(bar);
  applyTranslations(bar);
  render();
}

export function setLiveStatus(state) {
  const badge = $("#live-status");
  if (!badge) return;
  badge.dataset.state = state;
  badge.textContent = t(`live.${state}`);
}

function loginPanel(roles) {
  const id = h("input", { id: "login-participant", name: "participant", autocomplete: "username", required: true, pattern: "p-[a-z0-9]{4,32}", "data-i18n-placeholder": "login.participant_placeholder" });
  const file = h("input", { id: "login-key", type: "file", accept: ".pem,application/x-pem-file", required: true });
  const passphrase = h("input", { id: "login-passphrase", type: "password", autocomplete: "current-password" });
  const passphraseRow = h("div", { hidden: true }, h("label", { for: "login-passphrase", "data-i18n": "login.passphrase" }), passphrase);
  const fingerprint = h("p", { class: "muted", id: "login-fingerprint" });
  const problem = h("p", { class: "error", id: "login-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit", "data-i18n": "login.submit" });
  let keyFile = null;
  let selected = null;
  // A plain key is read at once; a protected one once its passphrase is given, at sign-in.
  const read = async () => {
    keyFile = await readKeyFile(selected, passphrase.value);
    passphrase.value = ""; // the key is open; its passphrase is not kept
    fingerprint.textContent = t("login.public_key", { key: keyFile.publicKey });
    return keyFile;
  };
  file.addEventListener("change", async () => {
    problem.textContent = fingerprint.textContent = "";
    keyFile = null;
    selected = file.files[0] || null;
    if (!selected) return;
    const named = selected.name.match(KEY_FILE_NAME);
    if (named && !id.value) id.value = named[1];
    passphraseRow.hidden = !(await isProtected(selected));
    if (!passphraseRow.hidden) {
      passphrase.focus();
      return;
    }
    try {
      await read();
    } catch (error) {
      problem.textContent = errorText(error);
    }
  });
  const form = h(
    "form",
    { class: "card login", id: "login-form", novalidate: true },
    h("h2", { "data-i18n": "login.title" }),
    h("p", { class: "muted", "data-i18n": "login.explain" }),
    h("label", { for: "login-participant", "data-i18n": "login.participant" }),
    id,
    h("label", { for: "login-key", "data-i18n": "login.key_file" }),
    file,
    passphraseRow,
    fingerprint,
    problem,
    h("div", { class: "actions" }, submit),
  );
  const panel = h("section", { id: "login", class: "login-panel" }, form);
  if (roles.includes("public")) {
    panel.append(h("div", { class: "card visit" }, h("p", { "data-i18n": "login.visit_explain" }), h("button", { type: "button", id: "visit", "data-i18n": "login.visit" })));
  }
  applyTranslations(panel);
  return { panel, form, id, problem, submit, keyFile: async () => keyFile || (selected && read()) };
}

// Builds the page's frame; with `roles`, resolves once someone of those roles is signed in
// (or, where `public` is among them, once a visitor chose to look without signing in).
export async function startPage({ page, titleKey, roles = null }) {
  await loadCatalogue(...(page ? [page] : []));
  header(titleKey);
  applyTranslations(document);
  if (!roles) return null;
  const main = $("main") || document.body;
  const { panel, form, id, problem, submit, keyFile } = loginPanel(roles);
  main.prepend(panel);
  return new Promise((resolve) => {
    const done = (session) => {
      panel.remove();
      resolve(session);
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.textContent = "";
      if (!/^p-[a-z0-9]{4,32}$/.test(id.value)) {
        problem.textContent = t("login.bad_participant");
        return;
      }
      submit.disabled = true;
      try {
        const key = await keyFile();
        if (!key) {
          problem.textContent = t("login.no_key");
          return;
        }
        const session = await login(id.value, key.key);
        if (!roles.includes(session.role)) {
          end();
          problem.textContent = t("login.wrong_role", { role: t(`role.${session.role}`) });
          return;
        }
        done(session);
      } catch (error) {
        problem.textContent = errorText(error);
      } finally {
        submit.disabled = false;
      }
    });
    const visitButton = panel.querySelector("#visit");
    if (visitButton) {
      visitButton.addEventListener("click", async () => {
        try {
          done(await visit());
        } catch (error) {
          toast(errorText(error), "error");
        }
      });
    }
  });
}
