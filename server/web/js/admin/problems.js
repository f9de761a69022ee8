// The node names every invalid field of a request (`problems`: path and an English sentence).
// The page shows each next to its field, in the page's language: a sentence the catalogue
// knows by its pattern, else a general one with the node's words kept for the record.

import { t } from "/static/js/lib/i18n.js";

const PATTERNS = [
  [/^is required/, () => t("adm.problem.required")],
  [/^must be a string/, () => t("adm.problem.string")],
  [/^must be (\d+) to (\d+) characters long/, (m) => t("adm.problem.length", { min: m[1], max: m[2] })],
  [/^member names must match/, () => t("adm.problem.attribute_name")],
  [/^must match/, () => t("adm.problem.pattern")],
  [/^must not contain control characters/, () => t("adm.problem.control")],
  [/^must be one of: (.*)$/, (m) => t("adm.problem.one_of", { allowed: m[1] })],
  [/^must have at most (\d+) members/, (m) => t("adm.problem.too_many", { max: m[1] })],
  [/^is not a known field/, () => t("adm.problem.unknown_field")],
  [/^a custodian needs an X25519 encryption key/, () => t("adm.problem.custodian_key")],
  [/refused as a weak key/, () => t("adm.problem.weak_key")],
  [/low-order point/, () => t("adm.problem.weak_key")],
  [/^An? (Ed25519|X25519) public key is (\d+) bytes/, (m) => t("adm.problem.key_size", { bytes: m[2] })],
  [/^A public key in text form starts with/, () => t("adm.problem.ed25519_prefix")],
  [/^An encryption key in text form starts with/, () => t("adm.problem.x25519_prefix")],
  [/base64url/i, () => t("adm.problem.base64url")],
  [/PEM/, () => t("adm.problem.pem")],
];

export function problemText(message) {
  for (const [pattern, text] of PATTERNS) {
    const found = String(message).match(pattern);
    if (found) return text(found);
  }
  return t("adm.problem.other", { message });
}
