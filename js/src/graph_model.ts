// Pure logic over the graph JSON: which nodes are visible for a set of expanded groups,
// edges collapsed onto visible ancestors, selection operations and the patch kinds that a
// selection allows. No DOM, no layout: everything here is unit-tested in node.
import type { Catalog, Graph, GraphEdge, GraphNode, Shape } from "./types";

/** A graph indexed for lookups; build once per `graph` trait value. */
export interface GraphIndex {
  graph: Graph;
  byId: Map<string, GraphNode>;
  /** Children ids per parent id ("" for the top level), in graph order. */
  children: Map<string, string[]>;
  /** Per group id: patch kinds found on its descendants (for collapsed groups' badges). */
  descendantPatches: Map<string, Set<string>>;
  /** Every patch kind found in any node's `patchable` list. */
  targetedKinds: Set<string>;
}

export interface VisibleEdge {
  source: string;
  target: string;
  /** How many leaf edges this visible edge stands for. */
  count: number;
}

export interface VisibleGraph {
  /** Visible nodes in graph order (parents before their children). */
  nodes: GraphNode[];
  /** Visible node ids that are expanded groups (drawn as containers). */
  containers: Set<string>;
  edges: VisibleEdge[];
  /** Visible representative of every node id (itself when visible). */
  rep: Map<string, string>;
}

export const EMPTY_GRAPH: Graph = { name: "", nodes: [], edges: [] };

/** Accepts whatever the `graph` trait holds (`{}` before Python fills it). */
export function asGraph(value: unknown): Graph {
  const g = (value ?? {}) as Partial<Graph>;
  return {
    name: typeof g.name === "string" ? g.name : "",
    nodes: Array.isArray(g.nodes) ? g.nodes : [],
    edges: Array.isArray(g.edges) ? g.edges : [],
  };
}

export function indexGraph(graph: Graph): GraphIndex {
  const byId = new Map<string, GraphNode>();
  for (const n of graph.nodes) byId.set(n.id, n);
  const children = new Map<string, string[]>();
  const targetedKinds = new Set<string>();
  for (const n of graph.nodes) {
    const p = parentOf(byId, n);
    let list = children.get(p);
    if (!list) children.set(p, (list = []));
    list.push(n.id);
    for (const k of n.patchable ?? []) targetedKinds.add(k);
  }
  const descendantPatches = new Map<string, Set<string>>();
  for (const n of graph.nodes) {
    if (!n.patch) continue;
    let p = n.parent;
    const seen = new Set<string>();
    while (p !== null && byId.has(p) && !seen.has(p)) {
      seen.add(p);
      let set = descendantPatches.get(p);
      if (!set) descendantPatches.set(p, (set = new Set()));
      set.add(n.patch.kind);
      for (const m of n.patches ?? []) set.add(m.kind); // stacked adapters of other kinds
      p = byId.get(p)!.parent;
    }
  }
  return { graph, byId, children, descendantPatches, targetedKinds };
}

/** Parent id, or "" for top-level nodes and nodes whose parent is not in the graph. */
function parentOf(byId: Map<string, GraphNode>, n: GraphNode): string {
  return n.parent !== null && n.parent !== undefined && byId.has(n.parent) ? n.parent : "";
}

/** Ancestor ids of `id`, outermost first. */
export function ancestors(index: GraphIndex, id: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>([id]);
  let n = index.byId.get(id);
  while (n) {
    const p = parentOf(index.byId, n);
    if (p === "" || seen.has(p)) break;
    seen.add(p);
    out.push(p);
    n = index.byId.get(p);
  }
  return out.reverse();
}

export function isGroup(n: GraphNode | undefined): boolean {
  return n !== undefined && n.kind === "group";
}

/**
 * The visible nodes and edges for a set of expanded group ids: a node is visible when every
 * ancestor is expanded; a leaf edge is drawn between the nearest visible ancestors of its
 * ends (the outermost collapsed group holding it), without self-loops or duplicates.
 */
export function visibleGraph(index: GraphIndex, expanded: Iterable<string>): VisibleGraph {
  const open = new Set(expanded);
  const nodes: GraphNode[] = [];
  const containers = new Set<string>();
  const rep = new Map<string, string>();
  // Depth-first from the top level, in graph order; parents come before children.
  const stack: Array<{ id: string; rep: string | null }> = [];
  const top = index.children.get("") ?? [];
  for (let i = top.length - 1; i >= 0; i--) stack.push({ id: top[i], rep: null });
  while (stack.length) {
    const { id, rep: hidden } = stack.pop()!;
    if (rep.has(id)) continue; // defensive: cycles in `parent`
    const node = index.byId.get(id)!;
    let childRep: string | null = hidden;
    if (hidden === null) {
      rep.set(id, id);
      nodes.push(node);
      const kids = index.children.get(id);
      if (isGroup(node) && open.has(id)) {
        containers.add(id);
      } else if (kids && kids.length) {
        childRep = id;
      }
    } else {
      rep.set(id, hidden);
    }
    const kids = index.children.get(id) ?? [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ id: kids[i], rep: childRep });
  }
  return { nodes, containers, edges: collapseEdges(index.graph.edges, rep), rep };
}

/** Maps edge ends to their representatives, dropping self-loops and merging duplicates. */
export function collapseEdges(edges: GraphEdge[], rep: Map<string, string>): VisibleEdge[] {
  const out = new Map<string, VisibleEdge>();
  for (const e of edges) {
    const s = rep.get(e.source);
    const t = rep.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    const key = s + "\u0000" + t;
    const found = out.get(key);
    if (found) found.count++;
    else out.set(key, { source: s, target: t, count: 1 });
  }
  return [...out.values()];
}

/** `expanded` with `id` toggled; collapsing also collapses every group inside it. */
export function toggleExpanded(index: GraphIndex, expanded: string[], id: string): string[] {
  if (!expanded.includes(id)) return [...expanded, id];
  return expanded.filter((g) => g !== id && !ancestors(index, g).includes(id));
}

/** `expanded` plus every ancestor of the given ids, so that they become visible. */
export function reveal(index: GraphIndex, expanded: string[], ids: Iterable<string>): string[] {
  const out = new Set(expanded);
  for (const id of ids) for (const a of ancestors(index, id)) out.add(a);
  return [...out];
}

// --- selection -------------------------------------------------------------------------

/** Click: select only `id` (or clear on background); shift-click toggles `id`. */
export function clickSelect(selection: string[], id: string | null, shift: boolean): string[] {
  if (id === null) return shift ? selection : [];
  if (!shift) return [id];
  return selection.includes(id) ? selection.filter((s) => s !== id) : [...selection, id];
}

/** Rubber band: the ids inside the box, added to the selection when `additive`. */
export function boxSelect(selection: string[], inside: string[], additive: boolean): string[] {
  if (!additive) return [...inside];
  const out = [...selection];
  const have = new Set(selection);
  for (const id of inside) if (!have.has(id)) out.push(id);
  return out;
}

/** Drops ids that are no longer in the graph. */
export function pruneSelection(index: GraphIndex, selection: string[]): string[] {
  return selection.filter((id) => index.byId.has(id));
}

export function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

/**
 * Patch kinds valid for a selection, in catalog order. With a selection: the kinds every
 * selected node lists in `patchable` (the intersection); "model" kinds that no node lists
 * (model-wide only, e.g. a variance head) stay valid too. Without a selection: the "model" kinds.
 */
export function validKinds(catalog: Catalog, index: GraphIndex, selection: string[]): string[] {
  const ids = selection.filter((id) => index.byId.has(id));
  // A kind is common when every selected node lists it.
  const counts = new Map<string, number>();
  for (const id of ids) {
    for (const k of new Set(index.byId.get(id)!.patchable ?? [])) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const common = new Set([...counts].filter(([, c]) => c === ids.length).map(([k]) => k));
  return Object.keys(catalog).filter((kind) => {
    const entry = catalog[kind];
    if (ids.length === 0) return entry.targets === "model";
    if (common.has(kind)) return true;
    return entry.targets === "model" && !index.targetedKinds.has(kind);
  });
}

// --- labels ----------------------------------------------------------------------------

function dims(s: (number | null)[]): string {
  return "(" + s.map((d) => (d === null ? "None" : String(d))).join(", ") + ")";
}

/** `(None, 16, 32)`, or `[(None, 4), (None, 2)]` for several outputs, or "" when unknown. */
export function formatShape(shape: Shape): string {
  if (!Array.isArray(shape)) return "";
  if (shape.length > 0 && shape.every((s) => Array.isArray(s))) {
    return "[" + (shape as (number | null)[][]).map(dims).join(", ") + "]";
  }
  return dims(shape as (number | null)[]);
}

/** Compact parameter count: 950, 12.6k, 3.4M. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "";
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 2 : 1).replace(/\.?0+$/, "") + "k";
  if (n < 1e9) return (n / 1e6).toFixed(n < 1e7 ? 2 : 1).replace(/\.?0+$/, "") + "M";
  return (n / 1e9).toFixed(2).replace(/\.?0+$/, "") + "B";
}

/** Synthetic graph for tests and benchmarks: `blocks` groups of `perBlock` chained layers. */
export function syntheticGraph(blocks: number, perBlock: number): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const mk = (id: string, kind: GraphNode["kind"], parent: string | null): GraphNode => ({
    id, name: id.split("/").pop()!, class_name: kind === "group" ? "Block" : "Dense", kind, parent,
    output_shape: [null, 32], params: 1056, trainable_params: 1056, patch: null,
    patchable: kind === "layer" ? ["lora", "svf", "sample", "vote"]
      : kind === "group" ? ["vote", "sample"] : [],
    opaque: false,
  });
  nodes.push(mk("input", "input", null));
  let prev = "input";
  for (let b = 0; b < blocks; b++) {
    const g = `block_${b}`;
    nodes.push(mk(g, "group", null));
    const entry = prev;
    for (let i = 0; i < perBlock; i++) {
      const id = `${g}/dense_${i}`;
      nodes.push(mk(id, "layer", g));
      edges.push({ source: prev, target: id });
      prev = id;
    }
    // A residual add per block: a second path into the block's last layer.
    if (perBlock > 2) edges.push({ source: entry, target: prev });
  }
  nodes.push(mk("output_0", "output", null));
  edges.push({ source: prev, target: "output_0" });
  return { name: "synthetic", nodes, edges };
}
