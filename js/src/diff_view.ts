// The patch diff: a toggle and two history pickers in the toolbar; Python answers a `diff`
// message in the `diff_view` trait (patch_diff.py): added / changed / removed node ids,
// trainable parameters per node before and after, and the output delta on the sample data.
// This module turns that answer into graph marks and one summary line; it knows no Keras.
import type { DiffViewState, History, OutMessage } from "./types";

export type DiffMark = "added" | "changed" | "inside";

/** Node id -> its diff mark: "added", "changed"; a collapsed group showing hidden changes
 *  gets "inside" (`rep` maps each node id to the visible node that stands for it). */
export function diffMarks(d: DiffViewState | Record<string, never> | null | undefined,
  rep?: ReadonlyMap<string, string>): Map<string, DiffMark> {
  const marks = new Map<string, DiffMark>();
  if (!d || d.error || !d.changed) return marks;
  for (const id of d.changed ?? []) marks.set(id, "changed");
  for (const id of d.added ?? []) marks.set(id, "added");
  if (rep) {
    for (const id of [...marks.keys()]) {
      const r = rep.get(id);
      if (r !== undefined && r !== id && !marks.has(r)) marks.set(r, "inside");
    }
  }
  return marks;
}

/** A number the way the summary shows it: 4 significant digits, "—" when unknown. */
export function formatDelta(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}

function signed(n: number): string {
  return n > 0 ? `+${n.toLocaleString("en-US")}` : n < 0 ? `−${(-n).toLocaleString("en-US")}` : "±0";
}

/** One line: "2 changed, 0 added, 0 removed · trainable 130 → 64 (−66) · |Δ| max 0.013, mean 0.002 on 300 samples". */
export function diffSummary(d: DiffViewState | Record<string, never> | null | undefined): string {
  if (!d || Object.keys(d).length === 0) return "";
  if (d.error) return d.error;
  const parts = [`${d.changed?.length ?? 0} changed, ${d.added?.length ?? 0} added, ${d.removed?.length ?? 0} removed`];
  if (d.trainable_before !== undefined && d.trainable_after !== undefined) {
    parts.push(`trainable ${d.trainable_before.toLocaleString("en-US")} → ${d.trainable_after.toLocaleString("en-US")} (${signed(d.trainable_delta ?? d.trainable_after - d.trainable_before)})`);
  }
  const o = d.output;
  if (o) {
    let out = `|Δ| max ${formatDelta(o.max_abs)}, mean ${formatDelta(o.mean_abs)} on ${o.n} samples`;
    if (o.risk_after !== null || o.risk_before !== null) out += `, risk ${formatDelta(o.risk_before)} → ${formatDelta(o.risk_after)}`;
    parts.push(out);
  } else if (d.output_error) {
    parts.push(`outputs not compared: ${d.output_error}`);
  } else {
    parts.push("no sample data: outputs not compared");
  }
  return parts.join(" · ");
}

/** A node's line in the tooltip: "diff: changed (class, patch) · trainable 40 → 24". */
export function diffNote(d: DiffViewState | Record<string, never> | null | undefined, id: string): string | undefined {
  if (!d || d.error || !d.changed) return undefined;
  const bits: string[] = [];
  if (d.added?.includes(id)) bits.push("added");
  else if (d.reasons?.[id]) bits.push(`changed (${d.reasons[id].join(", ")})`);
  const t = d.trainable?.[id];
  if (t) {
    const [b, a] = t;
    const word = (n: number | null) => (n === null ? "—" : n === 0 ? "0 (frozen)" : String(n));
    if (b !== a) bits.push(`trainable ${word(b)} → ${word(a)}`);
  }
  return bits.length ? `diff: ${bits.join(" · ")}` : undefined;
}

/** The history positions to pick from: 0 is the original, k the model after entry k. */
export function diffPositions(history: History): { value: number; label: string }[] {
  const entries = history?.entries ?? [];
  return [{ value: 0, label: "0. original" }, ...entries.map((e, k) => ({ value: k + 1, label: `${k + 1}. ${e.label || e.kind}` }))];
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The toggle, the two pickers and the summary line (part of the target row). */
export class DiffPanel {
  readonly el: HTMLElement;
  private toggle = h("button", { type: "button", class: "rw-btn", "data-role": "diff-toggle", "aria-pressed": "false",
    title: "show what the current patch changed (or pick two history entries)" }, "Diff");
  private from = h("select", { class: "rw-select", "data-role": "diff-from", title: "diff from this history entry" });
  private to = h("select", { class: "rw-select", "data-role": "diff-to", title: "diff to this history entry" });
  private summary = h("span", { "data-role": "diff-summary", class: "rw-muted rw-diff-summary" });
  private on = false;
  private positionsKey = "";

  constructor(private readonly send: (msg: OutMessage) => void) {
    this.el = h("span", { class: "rw-diff" });
    this.from.hidden = this.to.hidden = true;
    this.el.append(this.toggle, this.from, this.to, this.summary);
    this.toggle.addEventListener("click", () => {
      this.on = !this.on;
      this.toggle.setAttribute("aria-pressed", String(this.on));
      this.send(this.on ? { type: "diff", i: null, j: null } : { type: "diff_close" });
    });
    const pick = () => this.send({ type: "diff", i: Number(this.from.value), j: Number(this.to.value) });
    this.from.addEventListener("change", pick);
    this.to.addEventListener("change", pick);
  }

  /** The `history` or `diff_view` trait changed. */
  update(history: History, d: DiffViewState | Record<string, never>): void {
    const shown = !!d && Object.keys(d).length > 0;
    if (shown !== this.on) {
      this.on = shown; // opened or closed from Python (editor.diff()) too
      this.toggle.setAttribute("aria-pressed", String(shown));
    }
    const positions = diffPositions(history);
    const key = positions.map((p) => p.label).join("\u0000");
    if (key !== this.positionsKey) {
      this.positionsKey = key;
      for (const sel of [this.from, this.to]) {
        sel.replaceChildren(...positions.map((p) => h("option", { value: String(p.value) }, p.label)));
      }
    }
    this.from.hidden = this.to.hidden = !shown;
    if (shown && typeof d.i === "number" && typeof d.j === "number") {
      this.from.value = String(d.i);
      this.to.value = String(d.j);
    }
    this.summary.textContent = shown ? diffSummary(d) : "";
    this.summary.dataset.error = String(shown && !!d.error);
    const out = shown ? d.output : null;
    this.summary.dataset.maxAbs = out?.max_abs == null ? "" : String(out.max_abs);
    this.summary.dataset.meanAbs = out?.mean_abs == null ? "" : String(out.mean_abs);
    this.summary.dataset.changed = String(shown ? d.changed?.length ?? 0 : 0);
    this.summary.dataset.added = String(shown ? d.added?.length ?? 0 : 0);
  }
}
