// What the widget lays over the nodes, besides their boxes: the marks of the target preview,
// find and the patch diff; the per-layer overlay shown (values and fills on a colour scale);
// the legend of patch kinds. The widget calls these on every refresh.
import type { GraphNode, OverlayData } from "./types";
import type { GraphIndex, VisibleGraph } from "./graph_model";
import type { Overlay, Scene } from "./scene";
import type { DiffViewState } from "./types";
import { findMarks } from "./find";
import { diffMarks, diffNote } from "./diff_view";
import { makeScale, nodeValues, type Scale } from "./overlay";
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
