// The enrolment form's attributes and its refusals shown next to the fields.

import { $ } from "/static/js/lib/dom.js";
import { problemsByPath, t } from "/static/js/lib/i18n.js";
import { problemText } from "/static/js/admin/problems.js";

const ROLE_FIELDS = {
  expert: ["specialty", "region", "employer", "relations"],
  node: ["site", "workstations"],
};
const EXTRA = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/;

// The attributes the admin filled in: the role's own fields, then `key=value` lines.
export function readAttributes(role) {
  const attributes = {};
  for (const name of ROLE_FIELDS[role] || []) {
    const value = $(`#attr-${name}`).value.trim();
    if (value) attributes[name] = value;
  }
  for (const line of $("#enrol-extra").value.split("\n")) {
    const found = line.match(EXTRA);
    if (found) attributes[found[1]] = found[2];
  }
  return attributes;
}

export function clearProblems(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#enrol-error").textContent = "";
}

// Each problem next to its field: `attributes.<name>` goes to that attribute's input if the
// form has one, else to the extra attributes; a path the form doesn't show goes to the top.
export function showProblems(form, error) {
  for (const [path, message] of problemsByPath(error)) {
    let target = document.getElementById(`error-${path}`);
    if (!target && path.startsWith("attributes")) target = document.getElementById("error-attributes");
    if (!target) target = $("#enrol-error");
    const text = problemText(message);
    target.textContent = target.textContent ? `${target.textContent} ${text}` : text;
    const field = target.closest(".field");
    const input = field && field.querySelector("input, select, textarea");
    if (input) input.setAttribute("aria-invalid", "true");
  }
  if (error.problems && error.problems.length) $("#enrol-error").textContent = t("adm.enrol.fix");
}
