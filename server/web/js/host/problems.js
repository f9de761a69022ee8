// The node's field problems (`problems` of a 400 invalid_request), in the reader's language,
// shown next to the field they name.
import { h } from "/static/js/lib/dom.js";
import { t } from "/static/js/lib/i18n.js";

// The node's English messages, as its field reader writes them, and the catalogue key of each.
const PATTERNS = [
  [/^is required/, "host.problem.required"],
  [/^must be a string$/, "host.problem.string"],
  [/^must be (\d+) to (\d+) characters long$/, "host.problem.length", ["min", "max"]],
  [/^must match /, "host.problem.pattern"],
  [/^must not contain control characters/, "host.problem.control"],
  [/^must be an integer$/, "host.problem.integer"],
  [/^must be between (\S+) and (\S+)$/, "host.problem.between", ["low", "high"]],
  [/^must be a decimal number/, "host.problem.decimal"],
  [/^must have at most (\d+) decimals$/, "host.problem.decimals", ["places"]],
  [/^must be true or false$/, "host.problem.boolean"],
  [/^must be one of: (.*)$/, "host.problem.choice", ["allowed"]],
  [/^must be a list$/, "host.problem.list"],
  [/^must have (\d+) to (\d+) items$/, "host.problem.items", ["min", "max"]],
  [/^must be a list of (\d+) to (\d+) strings$/, "host.problem.items", ["min", "max"]],
  [/^must be a JSON object$/, "host.problem.object"],
  [/^custodians must be distinct$/, "host.problem.custodians_distinct"],
  [/^can't exceed the number of custodians$/, "host.problem.threshold"],
  [/^field names must be unique$/, "host.problem.fields_unique"],
  [/^criterion ids must be unique$/, "host.problem.criteria_unique"],
  [/^(\S+): max must be a multiple of step$/, "host.problem.multiple", ["id"]],
  [/^the maxima and the price weight must add up to 100$/, "host.problem.sum"],
  [/^the lowest evaluated price method scores no criteria$/, "host.problem.lowest_price"],
  [/^lot ids must be unique$/, "host.problem.lots_unique"],
  [/^must be after bidding_opens_at$/, "host.problem.after_opens"],
  [/^must be odd/, "host.problem.odd"],
  [/^must be at least 7 for a large procurement/, "host.problem.large"],
  [/^is not a known field/, "host.problem.unknown"],
  [/^one quota per specialty$/, "host.problem.quota_specialty"],
  [/^site names must be unique$/, "host.problem.sites_unique"],
  [/^workstation ids must be unique across sites$/, "host.problem.workstations_unique"],
  [/^must be an IP address$/, "host.problem.address"],
];

export function problemText(message) {
  for (const [pattern, key, names] of PATTERNS) {
    const found = pattern.exec(message);
    if (found) {
      const params = {};
      (names || []).forEach((name, i) => {
        params[name] = found[i + 1];
      });
      return t(key, params);
    }
  }
  return t("host.problem.other", { message });
}

export function clearProblems(root) {
  for (const node of root.querySelectorAll(".problem")) node.remove();
  for (const node of root.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// The element a problem's path belongs to: the field itself, else the nearest enclosing one
// ("scoring.criteria[1].max", then "scoring.criteria[1]", "scoring.criteria", "scoring").
function holderOf(root, path) {
  let current = path;
  while (current) {
    const holder = root.querySelector(`[data-field="${CSS.escape(current)}"]`);
    if (holder) return holder;
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    current = cut > 0 ? current.slice(0, cut) : "";
  }
  return null;
}

// Shows each problem under its field; returns how many found no field (shown in `summary`).
export function showProblems(root, summary, problems) {
  clearProblems(root);
  let loose = 0;
  for (const problem of problems) {
    const text = problemText(problem.message);
    const note = h("p", { class: "problem", role: "alert", "data-problem": problem.path }, text);
    const holder = holderOf(root, problem.path);
    if (holder) {
      holder.append(note);
      const control = holder.querySelector("input, select, textarea");
      if (control) control.setAttribute("aria-invalid", "true");
    } else {
      summary.append(h("p", { class: "problem", role: "alert", "data-problem": problem.path },
        `${problem.path}: ${text}`));
      loose += 1;
    }
  }
  const first = root.querySelector(".problem");
  if (first) first.scrollIntoView({ block: "center" });
  return loose;
}
