// 系统管理: the admin enrols participants (role, name, signing and encryption public keys, and
// attributes: an expert's pool entry, a node's site and workstations) and lists them. Every
// check is the node's: refusals come back as `problems` and are shown next to their fields.

import { api } from "/static/js/lib/api.js";
import { $, h, replace } from "/static/js/lib/dom.js";
import { errorText, onLangChange, t } from "/static/js/lib/i18n.js";
import { startPage } from "/static/js/lib/shell.js";
import { readAttributes, showProblems, clearProblems } from "/static/js/admin/form.js";
import { renderParticipants, renderPool, renderSites } from "/static/js/admin/lists.js";

const ROLES = ["expert", "bidder", "host", "supervisor", "custodian", "admin", "public", "node"];

let participants = [];

function fillRoles() {
  const enrolRole = $("#enrol-role");
  const listRole = $("#list-role");
  for (const role of ROLES) {
    enrolRole.append(h("option", { value: role, "data-i18n": `adm.role.${role}` }, t(`adm.role.${role}`)));
    listRole.append(h("option", { value: role, "data-i18n": `adm.role.${role}` }, t(`adm.role.${role}`)));
  }
  const show = () => {
    for (const set of document.querySelectorAll(".role-attributes")) set.hidden = set.dataset.role !== enrolRole.value;
  };
  enrolRole.addEventListener("change", show);
  show();
}

function enrolment() {
  const role = $("#enrol-role").value;
  const body = { role, name: $("#enrol-name").value.trim(), public_key: $("#enrol-public-key").value.trim() };
  const encryption = $("#enrol-encryption-key").value.trim();
  if (encryption) body.encryption_key = encryption;
  const attributes = readAttributes(role);
  if (Object.keys(attributes).length) body.attributes = attributes;
  return body;
}

async function enrol(event) {
  event.preventDefault();
  const form = $("#enrol-form");
  const submit = $("#enrol-submit");
  clearProblems(form);
  $("#enrol-done").textContent = "";
  submit.disabled = true;
  try {
    const enrolled = await api("POST", "/api/admin/participants", enrolment());
    replace($("#enrol-done"), t("adm.enrol.done", { name: enrolled.name, id: enrolled.id }));
    $("#enrol-done").dataset.participant = enrolled.id;
    form.reset();
    $("#enrol-role").dispatchEvent(new Event("change"));
    await refresh();
  } catch (error) {
    $("#enrol-error").textContent = errorText(error);
    showProblems(form, error);
  } finally {
    submit.disabled = false;
  }
}

function render() {
  const role = $("#list-role").value;
  const needle = $("#list-search").value.trim().toLowerCase();
  const shown = participants.filter(
    (p) => (!role || p.role === role) && (!needle || JSON.stringify(p).toLowerCase().includes(needle)),
  );
  renderParticipants($("#participant-rows"), shown);
  renderPool($("#pool-summary"), participants);
  renderSites($("#site-list"), participants);
}

async function refresh() {
  try {
    participants = (await api("GET", "/api/admin/participants")).participants;
  } catch (error) {
    $("#enrol-error").textContent = errorText(error);
  }
  render();
}

async function main() {
  await startPage({ page: "admin", titleKey: "adm.title", roles: ["admin"] });
  $("#console").hidden = false;
  fillRoles();
  $("#enrol-form").addEventListener("submit", enrol);
  $("#list-role").addEventListener("change", render);
  $("#list-search").addEventListener("input", render);
  onLangChange(render);
  await refresh();
  document.body.dataset.ready = "true";
}

main();
