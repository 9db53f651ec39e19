// The toolbar: patch kinds valid for the selection (from `catalog`) with their parameter
// inputs, Apply / Undo / Redo / Reset, export path + fold, and the status line.
import type { Catalog, CatalogEntry, CatalogParam, History, OutMessage, ParamValue, Status } from "./types";

export interface ToolbarState {
  catalog: Catalog;
  /** Kinds valid for the current selection, in catalog order. */
  kinds: string[];
  selectionCount: number;
  history: History;
  status: Status;
}

export interface ToolbarActions {
  send(msg: OutMessage): void;
  /** The node ids an "apply" patches: the selection shown (held by the editor, not here). */
  targets(): string[] | { error: string };
  fit(): void;
  expandAll(): void;
  collapseAll(): void;
  clearSelection(): void;
  /** Local problems (e.g. a parameter that is not a number) go to the status line. */
  localError(message: string): void;
}

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, props: Partial<Record<string, string>> = {}, text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(action: string, label: string, title: string): HTMLButtonElement {
  const b = h("button", { type: "button", "data-action": action, title, class: "rw-btn" }, label);
  return b;
}

/** Parses one parameter input; returns the value or an error message. A `bool` input reads
 * "true" / "false" (a checkbox), a `choice` one of its `choices` (a select). */
export function parseParam(p: CatalogParam, raw: string): { value: ParamValue } | { error: string } {
  const s = raw.trim();
  if (p.type === "bool") {
    if (s === "") return { value: p.default ?? false };
    if (s === "true" || s === "false") return { value: s === "true" };
    return { error: `\`${p.name}\` must be true or false. Received: ${s}` };
  }
  if (p.type === "str") {
    // a name (e.g. an adapter's): Python checks what a valid one is; empty is automatic
    if (s === "") return p.optional ? { value: null } : p.default !== undefined && p.default !== null ? { value: p.default } : { error: `\`${p.name}\` is required.` };
    return { value: s };
  }
  if (p.type === "choice") {
    const choices = p.choices ?? [];
    if (s === "") return p.default !== undefined && p.default !== null ? { value: p.default } : p.optional ? { value: null } : { error: `\`${p.name}\` is required.` };
    if (choices.includes(s)) return { value: s };
    return { error: `\`${p.name}\` must be one of ${choices.join(", ")}. Received: ${s}` };
  }
  if (p.patterns && s.includes(":")) return parsePatterns(p, s);
  if (s === "") {
    if (p.optional) return { value: null };
    if (p.default !== undefined && p.default !== null) return { value: p.default };
    return { error: `\`${p.name}\` is required.` };
  }
  const v = Number(s);
  if (!Number.isFinite(v)) return { error: `\`${p.name}\` must be a number. Received: ${s}` };
  if (p.type === "int" && !Number.isInteger(v)) return { error: `\`${p.name}\` must be an integer. Received: ${s}` };
  return { value: v };
}

/** Per-path values typed as "glob: value, glob: value" (e.g. "*\/attn/*: 8, *: 4"): an
 * object from glob to number, each number checked as the parameter itself is. */
function parsePatterns(p: CatalogParam, s: string): { value: ParamValue } | { error: string } {
  const rules: Record<string, number> = {};
  for (const part of s.split(",")) {
    const at = part.lastIndexOf(":");
    const glob = at < 0 ? "" : part.slice(0, at).trim();
    const text = at < 0 ? "" : part.slice(at + 1).trim();
    if (!glob || !text) {
      return { error: `\`${p.name}\` patterns read "glob: value, glob: value" (e.g. */attn/*: 8, *: 4). Received: ${part.trim()}` };
    }
    const r = parseParam({ ...p, patterns: false }, text);
    if ("error" in r) return { error: `${r.error} (for ${glob})` };
    rules[glob] = r.value as number;
  }
  return { value: rules };
}

/**
 * The "apply" message for patch `kind`: the typed parameters (`values` holds what was typed
 * per parameter name; empty means the default) and the `targets` to patch, or an error
 * naming the parameter that is not a number. Limits are checked by Python, against the
 * same table the catalog sends.
 */
export function applyMessage(
  kind: string, entry: CatalogEntry, values: Record<string, string>, targets: readonly string[],
): OutMessage | { error: string } {
  const params: Record<string, ParamValue> = {};
  for (const p of entry.params ?? []) {
    const r = parseParam(p, values[p.name] ?? "");
    if ("error" in r) return { error: `${entry.label}: ${r.error}` };
    params[p.name] = r.value;
  }
  return { type: "apply", kind, params, targets: [...targets] };
}

/** The valid range of a parameter in words: "1 ≤ rank ≤ 1024", "0 ≤ dropout < 1", "". */
export function paramRange(p: CatalogParam): string {
  const low = p.min !== undefined ? `${p.min} ≤ ` : "";
  const high = p.max !== undefined ? ` ${p.max_exclusive ? "<" : "≤"} ${p.max}` : "";
  if (!low && !high) return "";
  if (!high) return `${p.name} ≥ ${p.min}`;
  return `${low}${p.name}${high}`;
}

/** Attributes of a parameter's number input, all from the catalog's spec of it. */
export function paramInput(p: CatalogParam): Record<"min" | "max" | "step" | "placeholder" | "title", string | undefined> {
  const range = paramRange(p);
  const help = p.help ?? p.name;
  return {
    min: p.min !== undefined ? String(p.min) : undefined,
    // <input max> is inclusive: an exclusive maximum is left to Python (and the tooltip)
    max: p.max !== undefined && !p.max_exclusive ? String(p.max) : undefined,
    step: p.type === "int" ? "1" : "any",
    placeholder: p.default === null || p.default === undefined ? (p.optional ? "auto" : "") : String(p.default),
    title: range ? `${help} (${range})` : help,
  };
}

/** How a parameter is shown: a number input, a checkbox (`bool`) or a select (`choice`),
 * with its attributes and (select) options; `value` is the initial text ("true"/"false" for
 * a checkbox). Pure, so the rendering rule is testable without a DOM. */
export interface ParamControl {
  tag: "input" | "select";
  attrs: Record<string, string | undefined>;
  options?: string[];
  value: string;
}

export function paramControl(p: CatalogParam, typed?: string): ParamControl {
  const initial = typed ?? (p.default === null || p.default === undefined ? "" : String(p.default));
  const title = p.help ?? p.name;
  const base = { "data-param": p.name, "aria-label": p.name, title };
  if (p.type === "bool") {
    return { tag: "input", attrs: { ...base, class: "rw-check-input", type: "checkbox" }, value: initial === "true" ? "true" : "false" };
  }
  if (p.type === "str") {
    return { tag: "input", attrs: { ...base, class: "rw-input rw-name", type: "text", placeholder: p.optional ? "auto" : undefined, spellcheck: "false" }, value: initial };
  }
  if (p.type === "choice") {
    const options = [...(p.optional ? [""] : []), ...(p.choices ?? [])];
    return { tag: "select", attrs: { ...base, class: "rw-select" }, options, value: initial };
  }
  if (p.patterns) {  // a number, or "glob: value, ..." per path: a text field
    const attrs = paramInput(p);
    return {
      tag: "input",
      attrs: { ...base, class: "rw-input rw-num", type: "text", inputmode: "decimal", placeholder: attrs.placeholder, title: `${attrs.title}; per path: */attn/*: 8, *: 4` },
      value: initial,
    };
  }
  return { tag: "input", attrs: { ...base, class: "rw-input rw-num", type: "number", ...paramInput(p) }, value: initial };
}

/** What a rendered parameter control holds, as `parseParam` reads it. */
function controlValue(el: HTMLInputElement | HTMLSelectElement): string {
  return el instanceof HTMLInputElement && el.type === "checkbox" ? String(el.checked) : el.value;
}

/** The Code button's message: the script goes next to the export path as `.py`; an empty
 * path only shows it. */
export function codeMessage(exportPath: string): OutMessage {
  const path = exportPath.trim();
  return path ? { type: "export_code", path: `${path.replace(/\.[^./\\]*$/, "") || "patched"}.py` } : { type: "export_code" };
}

export class Toolbar {
  readonly el: HTMLElement;
  private kindSelect = h("select", { "data-role": "patch-kind", class: "rw-select", title: "patch kind" });
  private paramsBox = h("span", { "data-role": "params", class: "rw-params" });
  private applyBtn = button("apply", "Apply", "apply the patch to the selected layers");
  private undoBtn = button("undo", "Undo", "undo the last patch");
  private redoBtn = button("redo", "Redo", "redo the patch undone last");
  private resetBtn = button("reset", "Reset", "remove every patch");
  private exportPath = h("input", { "data-role": "export-path", class: "rw-input rw-path", type: "text", value: "patched.keras", title: "export path", "aria-label": "export path" });
  private foldBox = h("input", { "data-role": "export-fold", type: "checkbox", title: "fold adapters into plain layers" });
  private exportBtn = button("export", "Export", "save the patched model (.keras)");
  private svgBtn = button("export_svg", "SVG", "save the graph as SVG next to the export path");
  private htmlBtn = button("export_html", "HTML", "save a standalone page of the graph and plots (no kernel needed) next to the export path");
  private codeBtn = button("export_code", "Code", "show the patch history as a runnable Python script (saved as .py next to the export path; empty path: only shown)");
  private statusEl = h("div", { "data-role": "status", class: "rw-status", "aria-live": "polite" });
  private progressEl = h("progress", { "data-role": "progress", class: "rw-progress", max: "1", value: "0" }) as HTMLProgressElement;
  private selInfo = h("span", { "data-role": "selection-count", class: "rw-muted" });
  private historyEl = h("div", { "data-role": "history", class: "rw-history" });
  private hint = h("span", { class: "rw-muted rw-hint" });
  /** Values typed per kind and parameter, kept across re-renders. */
  private typed = new Map<string, string>();
  private state: ToolbarState | null = null;
  private shownKind: string | null = null;
  private localStatus: Status | null = null;
  /** The kind the user picked last; otherwise the first valid kind is shown. */
  private userKind: string | null = null;

  constructor(private readonly act: ToolbarActions) {
    this.el = h("div", { class: "rw-toolbar" });
    this.foldBox.checked = true;
    const fold = h("label", { class: "rw-check", title: "fold adapters into plain layers" });
    fold.append(this.foldBox, document.createTextNode(" fold"));
    const row1 = h("div", { class: "rw-row" });
    row1.append(
      this.selInfo, button("clear-selection", "×", "clear the selection (Esc on the graph)"), this.kindSelect, this.paramsBox, this.applyBtn, this.hint,
      h("span", { class: "rw-sep" }), this.undoBtn, this.redoBtn, this.resetBtn,
      h("span", { class: "rw-sep" }), this.exportPath, fold, this.exportBtn, this.svgBtn, this.htmlBtn, this.codeBtn,
      h("span", { class: "rw-sep" }),
      button("fit", "Fit", "fit the graph in view (double-click the background)"),
      button("expand-all", "Expand all", "expand every group"),
      button("collapse-all", "Collapse all", "collapse every group"),
    );
    this.progressEl.hidden = true;
    const statusRow = h("div", { class: "rw-row" });
    statusRow.append(this.progressEl, this.statusEl);
    this.el.append(row1, this.historyEl, statusRow);

    this.kindSelect.addEventListener("change", () => {
      this.userKind = this.kindSelect.value;
      this.renderParams();
    });
    this.el.addEventListener("click", (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
      if (!b || b.disabled) return;
      this.onAction(b.dataset.action!);
    });
    const remember = (ev: Event) => {
      const input = ev.target as HTMLInputElement | HTMLSelectElement;
      if (input.dataset.param) this.typed.set(`${this.shownKind}/${input.dataset.param}`, controlValue(input));
    };
    this.paramsBox.addEventListener("input", remember);
    this.paramsBox.addEventListener("change", remember);
    this.paramsBox.addEventListener("keydown", (ev) => {
      if ((ev as KeyboardEvent).key === "Enter") this.onAction("apply");
    });
  }

  private onAction(action: string): void {
    switch (action) {
      case "apply": return this.apply();
      case "undo": case "redo": case "reset": return this.act.send({ type: action });
      case "export": {
        const path = this.exportPath.value.trim();
        if (!path) return this.act.localError("Export: enter a file path, e.g. patched.keras");
        return this.act.send({ type: "export", path, fold: this.foldBox.checked });
      }
      case "export_svg": return this.act.send({ type: "export_svg", path: `${this.exportBase()}.svg` });
      case "export_html": return this.act.send({ type: "export_html", path: `${this.exportBase()}.html` });
      case "export_code": return this.act.send(codeMessage(this.exportPath.value));
      case "fit": return this.act.fit();
      case "clear-selection": return this.act.clearSelection();
      case "expand-all": return this.act.expandAll();
      case "collapse-all": return this.act.collapseAll();
    }
  }

  /** The export path without its extension: SVG and HTML are written next to the model. */
  private exportBase(): string {
    return this.exportPath.value.trim().replace(/\.[^./\\]*$/, "") || "graph";
  }

  private apply(): void {
    const s = this.state;
    const kind = this.kindSelect.value;
    if (!s || !kind || !s.catalog[kind]) return;
    const values: Record<string, string> = {};
    for (const input of this.paramsBox.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-param]")) {
      values[input.dataset.param!] = controlValue(input);
    }
    const targets = this.act.targets(); // the typed target's matches when one is typed
    if (!Array.isArray(targets)) return this.act.localError(targets.error);
    const msg = applyMessage(kind, s.catalog[kind], values, targets);
    if ("error" in msg) return this.act.localError(msg.error);
    this.act.send(msg);
  }

  /** Adds a row under the first one (e.g. the target field of target_preview.ts). */
  addRow(row: HTMLElement): void {
    this.el.insertBefore(row, this.historyEl);
  }

  /** A message from the front end itself, shown until the next status from Python. */
  showLocal(status: Status | null): void {
    this.localStatus = status;
    if (this.state) this.renderStatus(this.state.status);
  }

  update(state: ToolbarState): void {
    const prev = this.state;
    if (prev && prev.status !== state.status) this.localStatus = null;
    this.state = state;
    const { catalog, kinds } = state;
    const optsKey = kinds.join("\u0000") + "|" + Object.keys(catalog).map((k) => catalog[k].label).join();
    if (this.kindSelect.dataset.options !== optsKey) {
      this.kindSelect.dataset.options = optsKey;
      this.kindSelect.replaceChildren(...kinds.map((k) =>
        h("option", { value: k, title: catalog[k].help ?? "" }, catalog[k].label ?? k)));
      if (!kinds.length) this.kindSelect.append(h("option", { value: "" }, "no patch"));
      if (this.userKind && kinds.includes(this.userKind)) this.kindSelect.value = this.userKind;
      else if (kinds.length) this.kindSelect.value = kinds[0];
    }
    this.kindSelect.disabled = kinds.length === 0;
    this.renderParams();
    const busy = state.status?.level === "busy";
    this.applyBtn.disabled = kinds.length === 0 || busy;
    const hist = state.history ?? { entries: [], index: 0 };
    const entries = hist.entries ?? [];
    this.undoBtn.disabled = busy || !(hist.index > 0);
    this.redoBtn.disabled = busy || !(hist.index < entries.length);
    this.resetBtn.disabled = busy || entries.length === 0;
    this.exportBtn.disabled = busy;
    this.svgBtn.disabled = busy;
    this.htmlBtn.disabled = busy;
    this.codeBtn.disabled = busy;
    const n = state.selectionCount;
    this.selInfo.textContent = n === 0 ? "no selection" : n === 1 ? "1 selected" : `${n} selected`;
    this.hint.textContent = kinds.length ? "" : n ? "no patch fits all selected nodes" : "select layers to patch";
    this.renderHistory(hist);
    this.renderStatus(state.status);
  }

  private renderParams(): void {
    const s = this.state;
    const kind = this.kindSelect.value || null;
    if (kind === this.shownKind && this.paramsBox.childElementCount === (kind ? (s?.catalog[kind]?.params ?? []).length : 0)) return;
    this.shownKind = kind;
    const params = kind && s ? s.catalog[kind]?.params ?? [] : [];
    this.paramsBox.replaceChildren(...params.map((p) => {
      const control = paramControl(p, this.typed.get(`${kind}/${p.name}`));
      const label = h("label", { class: "rw-param", title: control.attrs.title });
      const input = h(control.tag, control.attrs);
      if (input instanceof HTMLSelectElement) {
        input.append(...(control.options ?? []).map((o) => h("option", { value: o }, o || "auto")));
        input.value = control.value;
      } else if (control.attrs.type === "checkbox") {
        input.checked = control.value === "true";
      } else {
        input.value = control.value;
      }
      label.append(document.createTextNode(p.name + " "), input);
      return label;
    }));
    const entry = kind && s ? s.catalog[kind] : undefined;
    this.kindSelect.title = entry?.help ?? "patch kind";
  }

  private renderHistory(hist: History): void {
    const entries = hist.entries ?? [];
    const key = JSON.stringify([entries.map((e) => e.label), hist.index]);
    if (this.historyEl.dataset.key === key) return;
    this.historyEl.dataset.key = key;
    this.historyEl.dataset.index = String(hist.index);
    this.historyEl.dataset.count = String(entries.length);
    if (!entries.length) {
      this.historyEl.replaceChildren();
      return;
    }
    this.historyEl.replaceChildren(
      h("span", { class: "rw-muted" }, "history: "),
      ...entries.map((e, i) => h("span", {
        class: i < hist.index ? "rw-hist" : "rw-hist rw-undone",
        title: (e.targets ?? []).join(", ") || "whole model",
      }, `${i + 1}. ${e.label || e.kind}`)),
    );
  }

  private renderStatus(status: Status): void {
    const s = this.localStatus ?? status ?? { level: "idle", message: "" };
    this.statusEl.dataset.level = s.level;
    this.statusEl.textContent = s.level === "busy" && !s.message ? "working…" : s.message ?? "";
    this.statusEl.title = s.message ?? "";
    // a progress bar while Python reports how far a long task (training) has come
    const progress = s.level === "busy" ? s.progress : undefined;
    this.progressEl.hidden = typeof progress !== "number";
    if (typeof progress === "number") this.progressEl.value = Math.min(1, Math.max(0, progress));
  }
}
