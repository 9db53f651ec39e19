// What the widget lays over the nodes, besides their boxes: the marks of the target preview,
// find and the patch diff; the per-layer overlay shown (values and fills on a colour scale);
// the legend of patch kinds. The widget calls these on every refresh.
import type { GraphNode, OverlayData } from "./types";
import type { GraphIndex, VisibleGraph } from "./graph_model";
import type { Overlay, Scene } from "./scene";
import type { DiffViewState } from "./types";
import { findMarks } from "./find";
import { diffMarks, diffNote } from "./diff_view";
import { makeScale, nodeValues, overlayData, overlayNames, type Scale } from "./overlay";
import { familiesPresent } from "./families";
import { patchColor, patchLabel } from "./patch_marks";

type Diff = DiffViewState | Record<string, never> | null | undefined;

/** The target preview's matches, find's hits and the diff's marks, on the visible nodes
 *  standing for them (`rep`: node id -> visible node). */
export function nodeMarks(previewed: Iterable<string>, hits: readonly string[], diff: Diff,
  rep: ReadonlyMap<string, string>): Map<string, Overlay> {
  const marks = new Map<string, Overlay>();
  const at = (id: string) => {
    let o = marks.get(id);
    if (!o) marks.set(id, (o = {}));
    return o;
  };
  for (const id of previewed) {
    const r = rep.get(id);
    if (r === undefined) continue;
    if (r === id) at(id).preview = "match";
    else if (!marks.get(r)?.preview) at(r).preview = "inside";
  }
  for (const [id, mark] of findMarks(hits, rep)) at(id).find = mark;
  for (const [id, mark] of diffMarks(diff, rep)) at(id).diff = mark;
  for (const [id, o] of marks) o.note = diffNote(diff, id);
  for (const id of Object.keys((diff && "trainable" in diff && diff.trainable) || {})) {
    const note = diffNote(diff, id);
    if (note && rep.get(id) === id) at(id).note = note;
  }
  return marks;
}

/** The overlay `name` on the visible nodes: each one's value and fill, and the legend's scale;
 *  null without data (the nodes keep their family colours). */
export function shownOverlay(index: GraphIndex, vis: VisibleGraph, name: string, data: OverlayData | undefined,
  bg: string, dark: boolean): { values: NonNullable<Scene["values"]>; legend: { name: string; scale: Scale; count: number } } | null {
  if (!data) return null;
  const all = nodeValues(index, data);
  const value = new Map<string, number>();
  for (const n of vis.nodes) {
    const v = all.get(n.id);
    if (v !== undefined) value.set(n.id, v);
  }
  const scale = makeScale(value.values(), bg, dark);
  const fill = new Map<string, string>();
  for (const [id, v] of value) fill.set(id, scale.fill(v));
  return { values: { name, value, fill }, legend: { name, scale, count: value.size } };
}

type Shown = ReturnType<typeof shownOverlay>;

/**
 * The overlays offered and the one shown, worked out again only when something they depend
 * on changed (a refresh after a click must not walk 10k nodes for them).
 */
export class OverlayMemo {
  private key: unknown[] = [];
  private names: string[] = [];
  private families: string[] = [];
  private out: { names: string[]; name: string; shown: Shown; families: string[] } | null = null;

  get(index: GraphIndex, layerRisk: Record<string, number> | undefined,
    fromPython: Record<string, OverlayData> | undefined, vis: VisibleGraph, wanted: string, bg: string, dark: boolean) {
    const key = [index, layerRisk, fromPython, vis, wanted, bg, dark];
    if (this.out && key.every((k, i) => k === this.key[i])) return this.out;
    if (!this.out || key.slice(1, 3).some((k, i) => k !== this.key[i + 1])) this.names = overlayNames(layerRisk, fromPython);
    if (index !== this.key[0]) this.families = familiesPresent(index.graph.nodes);
    this.key = key;
    const name = this.names.includes(wanted) ? wanted : "";
    const data = name ? overlayData(index, name, layerRisk, fromPython) : undefined;
    const shown = shownOverlay(index, vis, name, data, bg, dark);
    // The legend lists the families of the whole graph, not only of what is expanded: it
    // stays the same while groups open and close (and the bar above the graph keeps still).
    this.out = { names: this.names, name, shown, families: shown ? [] : this.families };
    return this.out;
  }
}

/** The legend of patch kinds in the stage's corner (one chip per kind in the graph). */
export function renderPatchLegend(el: HTMLElement, nodes: readonly GraphNode[]): void {
  const kinds = new Set<string>();
  for (const n of nodes) {
    if (n.patch) kinds.add(n.patch.kind);
    for (const m of n.patches ?? []) kinds.add(m.kind); // stacked adapters
  }
  const key = [...kinds].sort().join();
  if (el.dataset.kinds === key) return;
  el.dataset.kinds = key;
  el.replaceChildren(...[...kinds].sort().map((k) => {
    const s = document.createElement("span");
    s.style.background = patchColor(k);
    s.textContent = patchLabel(k);
    return s;
  }));
}
