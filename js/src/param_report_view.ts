// The parameter report: a Params toggle beside Diff; Python answers a `param_report`
// message in the `param_report_view` trait (engine/param_report.py): trainable parameters
// per adapter and per top-level block, with the totals. This module turns that answer into
// one table; it knows no Keras.
import type { OutMessage, ParamReportState } from "./types";

type View = ParamReportState | Record<string, never> | null | undefined;

/** A number with thousands separators, as Python's `f"{n:,}"` writes it. */
export function formatCount(n: number | null | undefined): string {
  return typeof n === "number" && Number.isFinite(n) ? n.toLocaleString("en-US") : "—";
}

/** "15 trainable of 38 parameters (39.47%)": the first line of Python's `print(report)`. */
export function reportSummary(v: View): string {
  if (!v || Object.keys(v).length === 0) return "";
  if (v.error) return v.error;
  const trainable = v.trainable ?? 0;
  const total = v.total ?? 0;
  const fraction = v.fraction ?? (total ? trainable / total : 0);
  return `${formatCount(trainable)} trainable of ${formatCount(total)} parameters (${(100 * fraction).toFixed(2)}%)`;
}

export type ReportRowKind = "head" | "adapter" | "block" | "total";

export interface ReportRow {
  row: ReportRowKind;
  cells: string[];
}

/**
 * The table's rows, in order: the adapters (path, kind, name, active, trainable; a header
 * first, none without adapters), the blocks (name, trainable, total, share trainable) and a
 * total row. Pure, so the table is testable without a DOM.
 */
export function reportRows(v: View): ReportRow[] {
  if (!v || Object.keys(v).length === 0 || v.error) return [];
  const rows: ReportRow[] = [];
  const adapters = v.adapters ?? [];
  if (adapters.length) {
    rows.push({ row: "head", cells: ["adapter", "kind", "name", "active", "trainable"] });
    for (const a of adapters) {
      rows.push({ row: "adapter", cells: [a.path, a.kind, a.name ?? "-", a.active ? "yes" : "no", formatCount(a.trainable)] });
    }
  }
  rows.push({ row: "head", cells: ["block", "trainable", "total", "trainable %"] });
  const share = (t: number, n: number) => (n ? `${((100 * t) / n).toFixed(2)}%` : "—");
  for (const b of v.blocks ?? []) {
    rows.push({ row: "block", cells: [b.name, formatCount(b.trainable), formatCount(b.total), share(b.trainable, b.total)] });
  }
  const trainable = v.trainable ?? 0;
  const total = v.total ?? 0;
  rows.push({ row: "total", cells: ["total", formatCount(trainable), formatCount(total), share(trainable, total)] });
  return rows;
}

/**
 * The names a `set_active` message sends when the user turns adapter `name` on or off: the
 * names active now (adapter names are model-wide: one name may sit on several layers), with
 * `name` added or removed, in report order. Unnamed patches (risk layers) have no gate.
 */
export function nextActive(v: View, name: string, on: boolean): string[] {
  const names: string[] = [];
  for (const a of (v && !v.error ? v.adapters : undefined) ?? []) {
    if (a.name === null || names.includes(a.name)) continue;
    if (a.name === name ? on : a.active) names.push(a.name);
  }
  if (on && !names.includes(name)) names.push(name);
  return names;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The Params toggle (`toggle`, placed beside Diff) and the report table (`el`). */
export class ParamReportPanel {
  readonly el: HTMLElement;
  readonly toggle = h("button", { type: "button", class: "rw-btn", "data-role": "params-toggle", "aria-pressed": "false",
    title: "trainable parameters per adapter and per block" }, "Params");
  private summary = h("div", { "data-role": "param-summary", class: "rw-muted" });
  private table = h("table", { class: "rw-report" });
  private on = false;
  private key = "";

  constructor(private readonly send: (msg: OutMessage) => void) {
    this.el = h("div", { class: "rw-report-panel", "data-role": "param-report" });
    this.el.hidden = true;
    this.el.append(this.summary, this.table);
    this.toggle.addEventListener("click", () => {
      this.on = !this.on;
      this.toggle.setAttribute("aria-pressed", String(this.on));
      this.send(this.on ? { type: "param_report" } : { type: "param_report_close" });
    });
  }

  /** The active cell of a named adapter: a checkbox that sends `set_active`. */
  private gate(cell: HTMLElement, name: string, active: boolean, v: View): void {
    const box = h("input", { type: "checkbox", "data-role": "adapter-active", "data-name": name,
      title: `turn adapter '${name}' on or off (every layer holding it; no rebuild)` });
    box.checked = active;
    box.addEventListener("change", () => this.send({ type: "set_active", names: nextActive(v, name, box.checked) }));
    cell.replaceChildren(box);
  }

  /** The `param_report_view` trait changed. */
  update(v: View): void {
    const shown = !!v && Object.keys(v).length > 0;
    if (shown !== this.on) {
      this.on = shown; // opened or closed from Python (editor.param_report()) too
      this.toggle.setAttribute("aria-pressed", String(shown));
    }
    this.el.hidden = !shown;
    const key = shown ? JSON.stringify(v) : "";
    if (key === this.key) return;
    this.key = key;
    this.summary.textContent = shown ? reportSummary(v) : "";
    this.el.dataset.error = String(shown && !!v?.error);
    this.el.dataset.trainable = shown && !v?.error ? String(v?.trainable ?? 0) : "";
    this.el.dataset.total = shown && !v?.error ? String(v?.total ?? 0) : "";
    this.el.dataset.adapters = shown && !v?.error ? String(v?.adapters?.length ?? 0) : "";
    const adapters = (shown && !v?.error ? v?.adapters : undefined) ?? [];
    let k = 0;
    this.table.replaceChildren(...reportRows(v).map((r) => {
      const tr = h("tr", { "data-row": r.row });
      tr.append(...r.cells.map((c, i) => h(r.row === "head" ? "th" : "td", i > 0 && /^[\d,.—%-]+$/.test(c) ? { class: "rw-numcell" } : {}, c)));
      const a = r.row === "adapter" ? adapters[k++] : undefined;
      if (a && a.name !== null) this.gate(tr.children[3] as HTMLElement, a.name, a.active, v);
      return tr;
    }));
  }
}
