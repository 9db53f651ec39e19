// The details panel beside the graph: what one selected node is (details.ts builds it from
// the graph JSON). It opens when exactly one node is selected and closes with its × (until
// another node is selected alone); a group's children are links that select them.
import type { GraphIndex } from "./graph_model";
import { nodeDetails, type NodeDetails } from "./details";
import { familyColor, familyLabel } from "./families";

/** Exact counts with separators: the panel is where the precise number is read. */
const exact = (n: number) => (Number.isFinite(n) ? n.toLocaleString("en-US") : "—");

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** A section: a heading and a table whose rows are `rows` (cells as text). */
function table(role: string, title: string, head: string[], rows: { cells: string[]; data?: Record<string, string> }[]): HTMLElement {
  const section = el("section");
  section.dataset.role = role;
  section.append(el("h4", title));
  const t = el("table", undefined, "rw-details-table");
  const hr = el("tr");
  for (const h of head) hr.append(el("th", h));
  t.append(hr);
  for (const r of rows) {
    const tr = el("tr");
    Object.assign(tr.dataset, r.data ?? {});
    for (const c of r.cells) tr.append(el("td", c));
    t.append(tr);
  }
  section.append(t);
  return section;
}

export class DetailsPanel {
  readonly el: HTMLElement;
  private body: HTMLElement;
  private title: HTMLElement;
  /** The node whose panel the user closed: it stays closed until another is selected. */
  private closedFor: string | null = null;
  private shown: string | null = null;
  private shownIndex: GraphIndex | null = null;

  /** `select(id)`: a click on a group's child. (The stage's ResizeObserver sees the panel
   *  open and close: the canvas narrows and widens, keeping its centre.) */
  constructor(private readonly select: (id: string) => void) {
    this.el = el("aside", undefined, "rw-details");
    this.el.dataset.role = "details";
    this.el.hidden = true;
    this.el.setAttribute("aria-label", "layer details");
    const head = el("div", undefined, "rw-details-head");
    this.title = el("span", "", "rw-details-title");
    const close = el("button", "×", "rw-btn rw-details-close");
    close.dataset.role = "details-close";
    close.title = "close the details";
    close.addEventListener("click", () => {
      this.closedFor = this.shown;
      this.show(null);
    });
    head.append(this.title, close);
    this.body = el("div", undefined, "rw-details-body");
    this.el.append(head, this.body);
  }

  /** The selection changed (or the graph): open for one selected node, else close. */
  update(index: GraphIndex, selection: readonly string[]): void {
    const id = selection.length === 1 && index.byId.has(selection[0]) ? selection[0] : null;
    if (id !== this.closedFor) this.closedFor = null;
    this.show(id !== null && id !== this.closedFor ? id : null, index);
  }

  private show(id: string | null, index: GraphIndex | null = this.shownIndex): void {
    const d = id !== null && index ? nodeDetails(index, id) : null;
    if (id === this.shown && index === this.shownIndex && (d !== null) === !this.el.hidden) return;
    this.shown = d ? id : null;
    this.shownIndex = index;
    this.el.hidden = d === null;
    if (d) this.render(d);
    else {
      this.body.replaceChildren();
      delete this.el.dataset.path;
    }
  }

  private render(d: NodeDetails): void {
    Object.assign(this.el.dataset, { path: d.id, kind: d.kind, family: d.family,
      params: String(d.params), trainable: String(d.trainable) });
    this.title.textContent = d.name;
    const dark = this.el.closest(".rw-editor")?.getAttribute("data-dark") === "true";
    const parts: HTMLElement[] = [];
    const what = el("div", undefined, "rw-details-what");
    const swatch = el("span", undefined, "rw-swatch");
    swatch.style.background = familyColor(d.family, dark);
    const cls = el("b", d.className);
    cls.dataset.role = "details-class";
    const path = el("div", d.id, "rw-details-path");
    path.dataset.role = "details-path";
    what.append(swatch, cls, el("span", ` · ${familyLabel(d.family)}${d.opaque ? " · opaque" : ""}`, "rw-muted"));
    parts.push(what, path);
    const shapes = el("div", undefined, "rw-details-shapes");
    shapes.dataset.role = "details-shapes";
    shapes.dataset.input = d.input;
    shapes.dataset.output = d.output;
    shapes.append(el("div", `in: ${d.input || "—"}`), el("div", `out: ${d.output || "—"}`));
    const params = el("div", `${exact(d.params)} parameters, ${exact(d.trainable)} trainable`, "rw-details-params");
    params.dataset.role = "details-params";
    parts.push(shapes, params);
    if (d.config.length) {
      parts.push(table("details-config", "Config", ["field", "value"],
        d.config.map((c) => ({ cells: [c.key, c.value], data: { key: c.key, value: c.value } }))));
    }
    if (d.weights.length) {
      const rows: { cells: string[]; data: Record<string, string> }[] = d.weights.map((w) => ({ cells: [w.name, w.shape, w.dtype, w.trainable ? "yes" : "no"],
        data: { weight: w.name, shape: w.shape, dtype: w.dtype, trainable: String(w.trainable) } }));
      if (d.weightsMore) rows.push({ cells: [`… ${d.weightsMore} more`, "", "", ""], data: { more: String(d.weightsMore) } });
      parts.push(table("details-weights", "Weights", ["name", "shape", "dtype", "trains"], rows));
    }
    if (d.patches.length) {
      parts.push(table("details-patches", "Patches", ["kind", "name", "parameters", "active"],
        d.patches.map((p) => ({ cells: [p.kind, p.name ?? "—", p.params, p.active ? "yes" : "no"],
          data: { kind: p.kind, name: p.name ?? "", active: String(p.active) } }))));
    }
    if (d.children && d.descendants) {
      const s = d.descendants;
      const summary = el("div", `${s.count} descendants: ${s.layers} layers, ${s.groups} groups; ` +
        `${exact(d.params)} parameters, ${exact(d.trainable)} trainable`, "rw-muted");
      summary.dataset.role = "details-descendants";
      Object.assign(summary.dataset, { count: String(s.count), layers: String(s.layers), groups: String(s.groups) });
      const children = table("details-children", `Children (${d.children.length})`, ["name", "class", "params", "trainable"],
        d.children.map((c) => ({ cells: [c.name, c.className, exact(c.params), exact(c.trainable)],
          data: { child: c.id, params: String(c.params), trainable: String(c.trainable) } })));
      for (const tr of children.querySelectorAll<HTMLElement>("tr[data-child]")) {
        tr.classList.add("rw-link");
        tr.title = `select ${tr.dataset.child}`;
        tr.addEventListener("click", () => this.select(tr.dataset.child!));
      }
      parts.push(summary, children);
    }
    this.body.replaceChildren(...parts);
  }
}
