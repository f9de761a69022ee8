// The bid documents, read in the page: the node sends the decrypted package (its read is recorded
// first); the page unpacks it and shows PDFs and images inline from blob URLs, text as text, and
// offers every file as a download. File names are the bidder's: only ever text.

import { apiBlob } from "/static/js/lib/api.js";
import { h, replace } from "/static/js/lib/dom.js";
import { errorText, t } from "/static/js/lib/i18n.js";
import { PackageError, baseName, kindOf, listArchive, readEntry, splitPackage } from "/static/js/expert/package.js";

const SHEET_FIELDS = ["price", "duration_days", "quality", "project_manager"];
const TEXT_PREVIEW = 1024 * 1024; // a text file shows its first MiB; the download has it all

export class DocumentReader {
  constructor(root) {
    this.root = root;
    this.urls = [];
    this.archive = null;
  }

  forget() {
    for (const url of this.urls) {
      URL.revokeObjectURL(url);
    }
    this.urls = [];
  }

  url(bytes, type) {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    this.urls.push(url);
    return url;
  }

  /** Fetch, unpack and list one bid's documents. */
  async open(room, bid) {
    this.forget();
    this.root.hidden = false;
    this.root.scrollIntoView({ block: "start" });
    replace(this.root, h("p", { class: "muted" }, t("expert.docs.loading")));
    let sheet;
    let entries;
    try {
      const blob = await apiBlob(room.documentPath(bid.bidder));
      const parts = splitPackage(new Uint8Array(await blob.arrayBuffer()));
      sheet = parts.sheet;
      this.archive = parts.archive;
      entries = listArchive(parts.archive);
    } catch (err) {
      this.fail(err);
      return;
    }
    const preview = h("div", { class: "doc-preview", "data-role": "preview" });
    replace(
      this.root,
      h("h3", {}, t("expert.docs.of", { name: bid.name }), " ", this.closeButton()),
      this.sheetTable(sheet),
      h("h4", {}, t("expert.docs.files")),
      entries.length
        ? h("ul", { class: "doc-files" }, ...entries.map((entry) => this.fileRow(entry, preview)))
        : h("p", { class: "muted" }, t("expert.docs.no_files")),
      preview,
    );
  }

  closeButton() {
    const close = h("button", { type: "button", class: "link", "data-role": "close-documents" }, t("expert.docs.close"));
    close.addEventListener("click", () => {
      this.forget();
      this.archive = null;
      replace(this.root);
      this.root.hidden = true;
    });
    return close;
  }

  fail(err) {
    const text = err instanceof PackageError ? t(err.key) : errorText(err);
    replace(this.root, h("p", { class: "error", role: "alert" }, text));
  }

  sheetTable(sheet) {
    const rows = SHEET_FIELDS.map((field) =>
      h("tr", {}, h("th", {}, t(`expert.sheet.${field}`)), h("td", {}, String(sheet[field] ?? ""))),
    );
    for (const [field, value] of Object.entries(sheet.extra ?? {})) {
      rows.push(h("tr", {}, h("th", {}, field), h("td", {}, String(value))));
    }
    return h("table", { class: "kv", "data-role": "opening-sheet" }, h("tbody", {}, ...rows));
  }

  fileRow(entry, preview) {
    const kind = kindOf(entry.name);
    const download = h("button", { type: "button", class: "link" }, t("expert.docs.download"));
    download.addEventListener("click", () => void this.download(entry, kind));
    const actions = [download];
    if (kind.show !== "download") {
      const show = h("button", { type: "button" }, t("expert.docs.view"));
      show.addEventListener("click", () => void this.show(entry, kind, preview));
      actions.unshift(show);
    }
    return h(
      "li",
      { "data-file": entry.name },
      h("span", { class: "file-name" }, entry.name),
      h("span", { class: "muted" }, t("expert.docs.size", { size: String(entry.size) })),
      h("span", { class: "file-actions" }, ...actions),
    );
  }

  async bytes(entry) {
    try {
      return await readEntry(this.archive, entry);
    } catch (err) {
      replace(this.root.querySelector("[data-role=preview]") ?? this.root, h("p", { class: "error", role: "alert" }, err instanceof PackageError ? t(err.key) : errorText(err)));
      return null;
    }
  }

  async download(entry, kind) {
    const data = await this.bytes(entry);
    if (data === null) {
      return;
    }
    const link = h("a", { class: "hidden" });
    link.href = this.url(data, kind.show === "download" ? kind.type : "application/octet-stream");
    link.download = baseName(entry.name);
    document.body.append(link);
    link.click();
    link.remove();
  }

  async show(entry, kind, preview) {
    const data = await this.bytes(entry);
    if (data === null) {
      return;
    }
    let shown;
    if (kind.show === "image") {
      shown = h("img", { class: "doc-image", "data-role": "doc-image" });
      shown.alt = entry.name;
      shown.src = this.url(data, kind.type);
    } else if (kind.show === "pdf") {
      shown = h("iframe", { class: "doc-pdf", "data-role": "doc-pdf" });
      shown.title = entry.name;
      shown.src = this.url(data, kind.type);
    } else {
      const cut = data.length > TEXT_PREVIEW;
      const text = new TextDecoder("utf-8").decode(data.subarray(0, TEXT_PREVIEW));
      shown = h("div", {}, h("pre", { class: "doc-text", "data-role": "doc-text" }, text), cut ? h("p", { class: "muted" }, t("expert.docs.cut")) : "");
    }
    replace(preview, h("p", { class: "file-name" }, entry.name), shown);
  }
}
