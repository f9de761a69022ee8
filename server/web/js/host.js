// The host's console (主持人控制台): tenders, the creation form, and one tender's opening and
// evaluation at /host/{tender}. Moving between them stays in the page (history API): the
// session lives in memory only, so a page load would ask to log in again.
import { h, replace } from "/static/js/lib/dom.js";
import { onLangChange } from "/static/js/lib/i18n.js";
import { Live } from "/static/js/lib/live.js";
import { setLiveStatus, startPage } from "/static/js/lib/shell.js";
import { tenderConsole } from "/static/js/host/console.js";
import { tenderForm } from "/static/js/host/form.js";
import { tenderList } from "/static/js/host/list.js";
import { button } from "/static/js/host/util.js";

let live = null;
let leave = () => {};
// What the current view draws again when the language changes (its data-i18n texts are
// switched by the shell; text built from data is drawn anew).
let redraw = () => {};

async function home(root) {
  let list = await tenderList();
  redraw = async () => {
    const fresh = await tenderList();
    list.replaceWith(fresh);
    list = fresh;
  };
  const formBox = h("div", { class: "form-box" });
  const open = button("host.list.new", () => {
    replace(formBox, tenderForm((created) => navigate(`/host/${encodeURIComponent(created.id)}`)));
    open.hidden = true;
  }, "primary");
  replace(root, h("div", { class: "actions" }, open), formBox, list);
}

async function route() {
  const root = document.getElementById("app");
  leave();
  leave = () => {};
  redraw = () => {};
  root.dataset.ready = "false";
  const match = /^\/host\/([^/]+)\/?$/.exec(window.location.pathname);
  if (match) {
    if (!live) live = new Live({ onStatus: setLiveStatus });
    leave = await tenderConsole(root, decodeURIComponent(match[1]), live, (fn) => {
      redraw = fn;
    });
  } else {
    await home(root);
  }
  root.dataset.ready = "true";
}

export function navigate(path) {
  window.history.pushState({}, "", path);
  route();
}

async function main() {
  await startPage({ page: "host", titleKey: "host.title", roles: ["host"] });
  // Links inside the console move within the page.
  document.getElementById("app").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-route]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
  window.addEventListener("popstate", () => route());
  onLangChange(() => redraw());
  await route();
}

main();
