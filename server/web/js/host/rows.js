// Editable rows of a list in a form (lots, criteria, custodians...): add and remove, each
// input named by its place in the request ("lots[1].name") so the node's problems find it.
import { h } from "/static/js/lib/dom.js";
import { t } from "/static/js/lib/i18n.js";
import { button, el, input, select } from "/static/js/host/util.js";

// columns: [{name, labelKey, kind: "text"|"number"|"select", options?, value?, read?, attrs?}]
// `name` null means the row is a plain string (custodians).
export function rowList({ path, titleKey, columns, initial, min = 0, max = 50 }) {
  const body = h("div", { class: "rows" });
  const list = h(
    "fieldset",
    { class: "row-list", "data-field": path },
    h("legend", { "data-i18n": titleKey }, t(titleKey)),
    body,
  );

  function renumber() {
    [...body.children].forEach((row, i) => {
      row.dataset.field = `${path}[${i}]`;
      for (const control of row.querySelectorAll("[data-column]")) {
        const name = control.dataset.column;
        const where = name ? `${path}[${i}].${name}` : `${path}[${i}]`;
        control.dataset.path = where;
        control.closest(".cell").dataset.field = where;
      }
    });
    adder.disabled = body.children.length >= max;
    for (const remover of body.querySelectorAll(".remove-row")) {
      remover.disabled = body.children.length <= min;
    }
  }

  function addRow(values) {
    const row = h("div", { class: "row" });
    for (const column of columns) {
      const value = values ? (column.name ? values[column.name] : values) : column.value;
      let control;
      if (column.kind === "select") {
        control = select(column.options, value ?? column.options[0][0]);
      } else if (column.kind === "textarea") {
        control = el("textarea", {}, { value: value ?? "", rows: 3 });
      } else {
        control = input("text", value ?? "", column.props);
      }
      if (column.kind === "number") control.inputMode = "decimal";
      for (const [name, value] of Object.entries(column.attrs || {})) control.setAttribute(name, value);
      control.dataset.column = column.name || "";
      control.setAttribute("aria-label", t(column.labelKey));
      control.dataset.i18nAriaLabel = column.labelKey;
      control.dataset.i18nPlaceholder = column.labelKey;
      control.placeholder = t(column.labelKey);
      row.append(h("div", { class: "cell" }, control));
    }
    row.append(
      el(
        "button",
        { type: "button", class: "btn small remove-row", "data-i18n": "host.form.remove_row",
          on: { click: () => { row.remove(); renumber(); } } },
        {},
        t("host.form.remove_row"),
      ),
    );
    body.append(row);
    renumber();
    return row;
  }

  const adder = button("host.form.add_row", () => addRow(null), "small add-row");
  list.append(adder);
  for (const values of initial) addRow(values);

  function read() {
    return [...body.children].map((row) => {
      const controls = [...row.querySelectorAll("[data-column]")];
      if (columns.length === 1 && !columns[0].name) return controls[0].value.trim();
      const item = {};
      columns.forEach((column, i) => {
        const raw = column.kind === "textarea" ? controls[i].value : controls[i].value.trim();
        item[column.name] = column.read ? column.read(raw) : raw;
      });
      return item;
    });
  }

  return { element: list, read, addRow };
}
