// Look-ahead layout: the inside of every collapsed group on screen, laid out in idle time so
// that expanding a group finds its level in the worker's cache (layout_engine.ts caches each level
// by its structure). Without it the first expand of a group shape pays ELK on that level in a
// cold worker (50-200 ms); with it, an expand only re-lays out the levels that hold the group.
//
// For a collapsed group G the worker is sent a small graph with the same level for G's inside
// as the full graph would have with G expanded: G as a container, its children as boxes of
// their measured sizes, the edges between them, and every edge that crosses G's border tied
// to one stand-in node outside (one for edges in, one for edges out). A level's cache key is
// its child sizes and local edges in order, and both come out the same: children in graph
// order, local edges in the order of the first graph edge that makes each.
import type { GraphIndex } from "./graph_model";
import { isGroup } from "./graph_model";
import type { LayoutInput, LayoutNode, Measure } from "./layout";
import { containerMinWidth, MAX_W, nodeSize } from "./layout";

/** Stand-ins for "somewhere outside the group" (ids no graph node can have: NUL-prefixed). */
const OUTSIDE_IN = "\u0000in";
const OUTSIDE_OUT = "\u0000out";
/** Distinct group shapes laid out ahead per scene, most frequent first. */
export const MAX_SHAPES = 32;

/** Edge indices per node id (both directions), built once per look-ahead pass. */
export function edgesByNode(index: GraphIndex): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (id: string, e: number) => {
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push(e);
  };
  index.graph.edges.forEach((e, i) => {
    add(e.source, i);
    if (e.target !== e.source) add(e.target, i);
  });
  return out;
}

export interface GroupInside {
  /** A layout input whose level for the group equals the full graph's with the group expanded. */
  input: LayoutInput;
  /** Child sizes and local edges: equal keys, equal levels (one layout serves both). */
  key: string;
}

/**
 * The layout input for the inside of collapsed group `id`, or null when it has no children.
 *
 * ```ts
 * const inside = groupInside(index, edgesByNode(index), "block_0", approxMeasure)!;
 * await engine.layout(inside.input); // later, expanding block_0 finds its level cached
 * ```
 */
export function groupInside(index: GraphIndex, byNode: Map<string, number[]>, id: string,
  measure: Measure): GroupInside | null {
  const group = index.byId.get(id);
  const kids = index.children.get(id) ?? [];
  if (!group || !kids.length) return null;
  // Every node inside the group, mapped to the child that stands for it (collapsed).
  const rep = new Map<string, string>();
  const stack: Array<[string, string]> = kids.map((k) => [k, k]);
  while (stack.length) {
    const [n, r] = stack.pop()!;
    if (rep.has(n)) continue; // defensive: cycles in `parent`
    rep.set(n, r);
    for (const c of index.children.get(n) ?? []) stack.push([c, r]);
  }
  const touching = new Set<number>();
  for (const n of rep.keys()) for (const e of byNode.get(n) ?? []) touching.add(e);
  const edges = new Map<string, { source: string; target: string; count: number }>();
  for (const e of [...touching].sort((a, b) => a - b)) {
    const { source, target } = index.graph.edges[e];
    const s = rep.get(source) ?? OUTSIDE_IN;
    const t = rep.get(target) ?? OUTSIDE_OUT;
    if (s === t || (s === OUTSIDE_IN && t === OUTSIDE_OUT)) continue;
    const k = s + "\u0000" + t;
    const found = edges.get(k);
    if (found) found.count++;
    else edges.set(k, { source: s, target: t, count: 1 });
  }
  const stand = (nid: string): LayoutNode => ({ id: nid, parent: null, w: 8, h: 8, container: false, minW: 0 });
  const nodes: LayoutNode[] = [stand(OUTSIDE_IN), {
    id, parent: null, w: 0, h: 0, container: true, minW: Math.min(2 * MAX_W, containerMinWidth(group, measure)),
  }];
  const at = new Map<string, number>();
  let key = "";
  for (const k of kids) {
    const s = nodeSize(index.byId.get(k)!, measure);
    at.set(k, at.size);
    nodes.push({ id: k, parent: id, w: s.width, h: s.height, container: false, minW: 0 });
    key += `${s.width},${s.height};`;
  }
  nodes.push(stand(OUTSIDE_OUT));
  key += "|";
  for (const e of edges.values()) key += `${at.get(e.source) ?? "in"}>${at.get(e.target) ?? "out"};`;
  return { input: { nodes, edges: [...edges.values()] }, key };
}

export interface ScanOptions {
  /** Distinct shapes kept (default MAX_SHAPES). */
  max?: number;
  /** The scan gives the page back after this many milliseconds of work (default 4). */
  sliceMs?: number;
  /** How it gives the page back (default: a zero timeout). */
  pause?: () => Promise<void>;
  /** Checked after every pause: true stops the scan (a newer scene is on screen). */
  stale?: () => boolean;
}

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

/**
 * The insides of the collapsed groups among `visible` to lay out ahead: one per distinct
 * shape, the shapes shared by most groups first, at most `max`. Runs in short slices (a
 * 10k-layer graph takes 15-40 ms in all), so a click is never kept waiting; resolves null
 * when `stale` stopped it.
 */
export async function lookaheadInputs(index: GraphIndex, visible: readonly string[], measure: Measure,
  { max = MAX_SHAPES, sliceMs = 4, pause = () => new Promise((r) => setTimeout(r, 0)), stale = () => false }:
  ScanOptions = {}): Promise<LayoutInput[] | null> {
  let start = now();
  const byNode = edgesByNode(index);
  const shapes = new Map<string, { input: LayoutInput; count: number }>();
  for (const id of visible) {
    if (now() - start > sliceMs) {
      await pause();
      if (stale()) return null;
      start = now();
    }
    if (!isGroup(index.byId.get(id))) continue;
    const inside = groupInside(index, byNode, id, measure);
    if (!inside) continue;
    const found = shapes.get(inside.key);
    if (found) found.count++;
    else shapes.set(inside.key, { input: inside.input, count: 1 });
  }
  return [...shapes.values()].sort((a, b) => b.count - a.count).slice(0, max).map((s) => s.input);
}
