// Pure layout helpers: node sizes, the layout input for the visible graph, and the
// hierarchical, cached layout engine that runs in the worker (and in node for tests).
//
// Each level (the top level, and the inside of every expanded group) is laid out on its own,
// as a flat graph of its direct children: collapsed children and leaves are boxes of their
// measured size, expanded children are boxes of the size of their own (already laid out)
// inside. Edges that cross a group's border enter and leave through two invisible nodes
// ("in" at the top, "out" at the bottom of the group's inside), and a drawn edge is the
// concatenation of its pieces at every level it crosses. A level's result depends only on
// its structure (child sizes, local edges), so it is cached under that key: expanding a group
// lays out that group's inside and the levels that hold it (whose box sizes changed);
// collapsing it again, or expanding a group shaped like one already seen (the 24 identical
// blocks of a transformer), reuses cached results. Levels up to ELK_MAX_NODES nodes are laid
// out by ELK (layered); bigger ones by `quickLevel`, a linear-time layered layout.
import type { GraphNode } from "./types";
import type { VisibleEdge, VisibleGraph } from "./graph_model";
import { formatShape } from "./graph_model";

export interface Box {
  id: string;
  /** Absolute position and size in layout (world) units. */
  x: number;
  y: number;
  w: number;
  h: number;
  depth: number;
  /** An expanded group drawn as a container around its children. */
  container: boolean;
}

export interface EdgePath {
  source: string;
  target: string;
  count: number;
  /** Polyline x0, y0, x1, y1, ... in world units. */
  points: number[];
}

/** What one layout run did: levels in the visible graph, and how each was obtained. */
export interface LayoutStats {
  levels: number;
  /** Levels laid out now (ELK or quick). */
  laidOut: number;
  /** Levels whose result came from the cache. */
  cached: number;
  elk: number;
  quick: number;
  /** Wall time of the run in the worker, milliseconds. */
  ms: number;
}

export interface Layout {
  boxes: Box[];
  edges: EdgePath[];
  width: number;
  height: number;
  stats?: LayoutStats;
}

/** Minimal slice of ELK's JSON graph that we produce and read back. */
export interface ElkPoint { x: number; y: number }
export interface ElkSection { startPoint: ElkPoint; endPoint: ElkPoint; bendPoints?: ElkPoint[] }
export interface ElkEdge { id: string; sources: string[]; targets: string[]; sections?: ElkSection[] }
export interface ElkNode {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  children?: ElkNode[];
  edges?: ElkEdge[];
  layoutOptions?: Record<string, string>;
}
export interface Elk { layout(g: ElkNode): Promise<ElkNode> }

export const NODE_H = 48;
export const MIN_W = 96;
export const MAX_W = 260;
export const PAD_X = 10;
export const TOGGLE_W = 22;
export const HEADER_H = 26;
export const GROUP_PAD = 12;
/** Margin around the whole drawing. */
export const ROOT_PAD = 12;
/** Spacing between boxes in a layer, and between layers. */
export const SPACING = 18;
export const LAYER_SPACING = 28;

export const FONT_NAME = "600 12px sans-serif";
export const FONT_SMALL = "11px sans-serif";

/** Measures text width in CSS pixels for a font; the canvas provides the real one. */
export type Measure = (text: string, font: string) => number;

/** Rough width when no canvas is available (worker-free tests, node). */
export const approxMeasure: Measure = (text, font) => text.length * (font.startsWith("600") ? 7.2 : 6.2);

/** Size of a node's box (leaf or collapsed group); containers get their size from their inside. */
export function nodeSize(node: GraphNode, measure: Measure): { width: number; height: number } {
  const texts = [measure(node.name, FONT_NAME), measure(node.class_name, FONT_SMALL),
    measure(formatShape(node.output_shape), FONT_SMALL)];
  const extra = node.kind === "group" ? TOGGLE_W : 0;
  // Rounded up with a little slack so the label measured here fits when drawn.
  const w = Math.ceil(Math.max(...texts) + 2 * PAD_X + extra + 2);
  return { width: Math.min(MAX_W, Math.max(MIN_W, w)), height: NODE_H };
}

/** ELK options of one level (a flat graph: no hierarchy, padding added by us). */
export const LEVEL_OPTIONS: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "DOWN",
  "elk.edgeRouting": "POLYLINE",
  "elk.padding": "[top=0,left=0,bottom=0,right=0]",
  "elk.spacing.nodeNode": String(SPACING),
  "elk.layered.spacing.nodeNodeBetweenLayers": String(LAYER_SPACING),
  "elk.spacing.edgeNode": "12",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.json.shapeCoords": "ROOT",
  "elk.json.edgeCoords": "ROOT",
};

/** Cheaper ELK settings for levels over LARGE_LEVEL nodes. */
export const LARGE_OPTIONS: Record<string, string> = {
  "elk.layered.thoroughness": "1",
  "elk.layered.crossingMinimization.greedySwitch.type": "OFF",
  "elk.layered.nodePlacement.strategy": "LINEAR_SEGMENTS",
};
export const LARGE_LEVEL = 100;
/** Levels with more nodes than this are laid out by `quickLevel` instead of ELK (ELK takes
 * 0.1-0.3 s on a 100-node level, seconds on thousands; quick takes milliseconds). */
export const ELK_MAX_NODES = 100;

/** Width a container needs for its header ("name · class" and the toggle). */
export function containerMinWidth(node: GraphNode, measure: Measure): number {
  return Math.ceil(measure(`${node.name} · ${node.class_name}`, FONT_NAME) + 2 * PAD_X + TOGGLE_W + 2);
}

// --- the request: what the page measured -------------------------------------------------

/** One visible node as the layout sees it: its visible parent, its size, and whether it is a container. */
export interface LayoutNode {
  id: string;
  /** The visible container holding it, or null at the top level. */
  parent: string | null;
  w: number;
  h: number;
  container: boolean;
  /** Containers: the smallest width of the box (its header). */
  minW: number;
}

export interface LayoutInput { nodes: LayoutNode[]; edges: VisibleEdge[] }

/** The layout input for a visible graph, box sizes measured with `measure`. */
export function buildLayoutInput(vis: VisibleGraph, measure: Measure): LayoutInput {
  const nodes: LayoutNode[] = vis.nodes.map((n) => {
    const parent = n.parent !== null && vis.containers.has(n.parent) ? n.parent : null;
    if (vis.containers.has(n.id)) {
      return { id: n.id, parent, w: 0, h: 0, container: true, minW: Math.min(2 * MAX_W, containerMinWidth(n, measure)) };
    }
    const s = nodeSize(n, measure);
    return { id: n.id, parent, w: s.width, h: s.height, container: false, minW: 0 };
  });
  return { nodes, edges: vis.edges };
}

// --- one level -----------------------------------------------------------------------------

/** A flat graph of one level: child sizes and edges between child indices. */
export interface LevelGraph {
  sizes: Array<[number, number]>;
  edges: Array<[number, number]>;
}

/** A laid-out level: child positions (top-left), one polyline per edge, the level's size. */
export interface LevelResult {
  pos: Float64Array;
  routes: number[][];
  width: number;
  height: number;
  engine: "elk" | "quick";
}

function levelKey(g: LevelGraph): string {
  let s = "";
  for (const [w, h] of g.sizes) s += `${w},${h};`;
  s += "|";
  for (const [a, b] of g.edges) s += `${a}>${b};`;
  return s;
}

/** Lays out one level with ELK (flat, layered, top to bottom). */
export async function elkLevel(elk: Elk, g: LevelGraph): Promise<LevelResult> {
  const big = g.sizes.length > LARGE_LEVEL;
  const root: ElkNode = {
    id: "__level__",
    layoutOptions: big ? { ...LEVEL_OPTIONS, ...LARGE_OPTIONS } : LEVEL_OPTIONS,
    children: g.sizes.map(([w, h], i) => ({ id: `n${i}`, width: w, height: h })),
    edges: g.edges.map(([a, b], i) => ({ id: `e${i}`, sources: [`n${a}`], targets: [`n${b}`] })),
  };
  const out = await elk.layout(root);
  const pos = new Float64Array(g.sizes.length * 2);
  let x0 = Infinity, y0 = Infinity, x1 = 0, y1 = 0;
  out.children!.forEach((c, i) => {
    pos[2 * i] = c.x ?? 0;
    pos[2 * i + 1] = c.y ?? 0;
    x0 = Math.min(x0, pos[2 * i]); y0 = Math.min(y0, pos[2 * i + 1]);
    x1 = Math.max(x1, pos[2 * i] + g.sizes[i][0]); y1 = Math.max(y1, pos[2 * i + 1] + g.sizes[i][1]);
  });
  const routes = (out.edges ?? []).map((e) => {
    const pts: number[] = [];
    for (const s of e.sections ?? []) {
      pts.push(s.startPoint.x, s.startPoint.y);
      for (const b of s.bendPoints ?? []) pts.push(b.x, b.y);
      pts.push(s.endPoint.x, s.endPoint.y);
    }
    for (let j = 0; j < pts.length; j += 2) {
      x0 = Math.min(x0, pts[j]); x1 = Math.max(x1, pts[j]);
      y0 = Math.min(y0, pts[j + 1]); y1 = Math.max(y1, pts[j + 1]);
    }
    return pts;
  });
  if (!Number.isFinite(x0)) x0 = y0 = 0;
  // Normalise to a (0, 0) origin.
  for (let i = 0; i < pos.length; i += 2) { pos[i] -= x0; pos[i + 1] -= y0; }
  for (const r of routes) for (let j = 0; j < r.length; j += 2) { r[j] -= x0; r[j + 1] -= y0; }
  return { pos, routes, width: x1 - x0, height: y1 - y0, engine: "elk" };
}

/**
 * A linear-time layered layout for big levels (thousands of nodes, where ELK takes seconds):
 * longest-path layers from the sources, one barycenter pass to order each layer, layers
 * centred on one axis; an edge to the next layer is a straight line, a longer one goes round
 * the right side of the layers it spans.
 */
export function quickLevel(g: LevelGraph): LevelResult {
  const n = g.sizes.length;
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  const indeg = new Int32Array(n);
  for (const [a, b] of g.edges) {
    if (a === b) continue;
    succ[a].push(b); pred[b].push(a); indeg[b]++;
  }
  // Kahn's order, lowest index first among ready nodes (keeps model order for chains).
  const layer = new Int32Array(n);
  const done = new Uint8Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
  let head = 0, next = 0;
  const order: number[] = [];
  while (order.length < n) {
    if (head === queue.length) {
      // A cycle: take the first node not yet placed.
      while (done[next]) next++;
      queue.push(next);
    }
    const v = queue[head++];
    if (done[v]) continue;
    done[v] = 1;
    order.push(v);
    let l = 0;
    for (const p of pred[v]) if (done[p]) l = Math.max(l, layer[p] + 1);
    layer[v] = l;
    for (const s of succ[v]) if (--indeg[s] === 0) queue.push(s);
  }
  const nLayers = n ? Math.max(...layer) + 1 : 0;
  const layers: number[][] = Array.from({ length: nLayers }, () => []);
  for (const v of order) layers[layer[v]].push(v);
  // Order each layer by the mean slot of its predecessors.
  const slot = new Float64Array(n);
  for (const row of layers) {
    const key = new Map<number, number>();
    for (const v of row) {
      const ps = pred[v].filter((p) => layer[p] < layer[v]);
      key.set(v, ps.length ? ps.reduce((s, p) => s + slot[p], 0) / ps.length : v);
    }
    row.sort((a, b) => key.get(a)! - key.get(b)! || a - b);
    row.forEach((v, i) => { slot[v] = i; });
  }
  const pos = new Float64Array(2 * n);
  const layerTop = new Float64Array(nLayers);
  const layerBottom = new Float64Array(nLayers);
  const layerLeft = new Float64Array(nLayers);
  const layerRight = new Float64Array(nLayers);
  let y = 0;
  for (let l = 0; l < nLayers; l++) {
    const row = layers[l];
    let total = -SPACING, hMax = 0;
    for (const v of row) { total += g.sizes[v][0] + SPACING; hMax = Math.max(hMax, g.sizes[v][1]); }
    let x = -total / 2;
    layerLeft[l] = x;
    for (const v of row) {
      pos[2 * v] = x;
      pos[2 * v + 1] = y + (hMax - g.sizes[v][1]) / 2;
      x += g.sizes[v][0] + SPACING;
    }
    layerRight[l] = x - SPACING;
    layerTop[l] = y;
    layerBottom[l] = y + hMax;
    y += hMax + LAYER_SPACING;
  }
  const routes: number[][] = [];
  let minX = 0, maxX = 0;
  for (let l = 0; l < nLayers; l++) { minX = Math.min(minX, layerLeft[l]); maxX = Math.max(maxX, layerRight[l]); }
  // Long edges leaving one node fan out to the right, one lane each.
  const lanes = new Map<number, number>();
  for (const [a, b] of g.edges) {
    const sx = pos[2 * a] + g.sizes[a][0] / 2, sy = pos[2 * a + 1] + g.sizes[a][1];
    const tx = pos[2 * b] + g.sizes[b][0] / 2, ty = pos[2 * b + 1];
    const la = layer[a], lb = layer[b];
    if (lb === la + 1) {
      routes.push([sx, sy, tx, ty]);
      continue;
    }
    const lo = Math.min(la, lb), hi = Math.max(la, lb);
    let right = Math.max(pos[2 * a] + g.sizes[a][0], pos[2 * b] + g.sizes[b][0]);
    for (let l = lo + 1; l < hi; l++) right = Math.max(right, layerRight[l]);
    const lane = lanes.get(a) ?? 0;
    lanes.set(a, lane + 1);
    const xr = right + 14 + 8 * lane;
    maxX = Math.max(maxX, xr);
    const yOut = sy + LAYER_SPACING / 2, yIn = ty - LAYER_SPACING / 2;
    routes.push([sx, sy, sx, yOut, xr, yOut, xr, yIn, tx, yIn, tx, ty]);
  }
  for (let i = 0; i < n; i++) pos[2 * i] -= minX;
  for (const r of routes) for (let j = 0; j < r.length; j += 2) r[j] -= minX;
  return { pos, routes, width: maxX - minX, height: nLayers ? y - LAYER_SPACING : 0, engine: "quick" };
}

/**
 * Pulls a group's entry node ("in", index `inAt`) down to just above the real children and
 * its exit node ("out") up to just below them, so that a group's inside is only `gap` taller
 * than its content at each end (ELK puts each of them in a layer of its own): every y above
 * the content moves to the top line, every y below it to the bottom line.
 */
export function trimBorders(res: LevelResult, sizes: Array<[number, number]>, inAt: number, outAt: number,
  gap = 8): LevelResult {
  if (inAt < 0 && outAt < 0) return res;
  let top = Infinity, bottom = -Infinity;
  sizes.forEach(([, h], i) => {
    if (i === inAt || i === outAt) return;
    top = Math.min(top, res.pos[2 * i + 1]);
    bottom = Math.max(bottom, res.pos[2 * i + 1] + h);
  });
  if (!Number.isFinite(top)) return res;
  const lo = inAt >= 0 ? Math.max(0, top - gap) : 0;
  const hi = outAt >= 0 ? bottom + gap : res.height;
  const y = (v: number) => Math.min(Math.max(v, lo), hi) - lo;
  const pos = Float64Array.from(res.pos);
  for (let i = 1; i < pos.length; i += 2) pos[i] = y(pos[i]);
  if (inAt >= 0) pos[2 * inAt + 1] = 0;
  if (outAt >= 0) pos[2 * outAt + 1] = hi - lo - sizes[outAt][1];
  const routes = res.routes.map((r) => r.map((v, j) => (j % 2 ? y(v) : v)));
  return { ...res, pos, routes, height: Math.min(res.height, hi) - lo };
}

// --- the hierarchical engine -----------------------------------------------------------------

const IN = -1;
const OUT = -2;

interface Level {
  /** Container id, or "" for the top level. */
  id: string;
  children: number[];
  /** Local edges as (from, to) in local numbering (IN / OUT for the border nodes). */
  edges: Array<[number, number]>;
  edgeIndex: Map<string, number>;
  hasIn: boolean;
  hasOut: boolean;
  result?: LevelResult;
  /** Child count + border nodes: index of IN and OUT in the level graph. */
  inAt: number;
  outAt: number;
  ox: number;
  oy: number;
}

/** Lays out visible graphs level by level, caching every level's result by its structure. */
export class LayoutEngine {
  private cache = new Map<string, LevelResult>();
  /** Entries kept at most (a whole cache of a 10k-node model is far below this). */
  maxEntries = 20_000;

  constructor(private readonly elk: Elk | null, private readonly elkMax = ELK_MAX_NODES) {}

  clear(): void {
    this.cache.clear();
  }

  async layout(input: LayoutInput): Promise<Layout> {
    const t0 = typeof performance !== "undefined" ? performance.now() : Date.now();
    const stats: LayoutStats = { levels: 0, laidOut: 0, cached: 0, elk: 0, quick: 0, ms: 0 };
    const { nodes } = input;
    const at = new Map<string, number>();
    nodes.forEach((n, i) => at.set(n.id, i));
    const parentAt = nodes.map((n) => (n.parent !== null && at.has(n.parent) ? at.get(n.parent)! : -1));
    const levels = new Map<number, Level>(); // key: container index, -1 for the top level
    const mk = (id: string): Level => ({ id, children: [], edges: [], edgeIndex: new Map(), hasIn: false, hasOut: false,
      inAt: -1, outAt: -1, ox: 0, oy: 0 });
    levels.set(-1, mk(""));
    nodes.forEach((n, i) => { if (n.container) levels.set(i, mk(n.id)); });
    const localAt = new Int32Array(nodes.length);
    nodes.forEach((_, i) => {
      const lv = levels.get(parentAt[i]) ?? levels.get(-1)!;
      localAt[i] = lv.children.length;
      lv.children.push(i);
    });
    const depth = new Int32Array(nodes.length);
    nodes.forEach((_, i) => { depth[i] = parentAt[i] < 0 ? 0 : depth[parentAt[i]] + 1; });
    // Chain of enclosing containers, innermost first (parents come before children in `nodes`).
    const chain = (i: number): number[] => {
      const out: number[] = [];
      for (let p = parentAt[i]; p >= 0; p = parentAt[p]) out.push(p);
      return out;
    };
    const addLocal = (lvKey: number, a: number, b: number): number => {
      const lv = levels.get(lvKey)!;
      const k = `${a},${b}`;
      let e = lv.edgeIndex.get(k);
      if (e === undefined) {
        e = lv.edges.length;
        lv.edges.push([a, b]);
        lv.edgeIndex.set(k, e);
        if (a === IN) lv.hasIn = true;
        if (b === OUT) lv.hasOut = true;
      }
      return e;
    };
    // Each visible edge: its pieces, as (level key, local edge) from source to target.
    const plans: Array<Array<[number, number]>> = input.edges.map((edge) => {
      const s = at.get(edge.source), t = at.get(edge.target);
      if (s === undefined || t === undefined) return [];
      const cs = chain(s), ct = chain(t);
      // Strip the common outer part: what is left are the containers the edge leaves / enters.
      let i = cs.length - 1, j = ct.length - 1;
      while (i >= 0 && j >= 0 && cs[i] === ct[j]) { i--; j--; }
      const lca = i + 1 < cs.length ? cs[i + 1] : -1;
      const plan: Array<[number, number]> = [];
      let from = s;
      for (let k = 0; k <= i; k++) {
        plan.push([cs[k], addLocal(cs[k], localAt[from], OUT)]);
        from = cs[k];
      }
      const to = j >= 0 ? ct[j] : t;
      plan.push([lca, addLocal(lca, localAt[from], localAt[to])]);
      for (let k = j; k >= 0; k--) {
        const inner = k > 0 ? ct[k - 1] : t;
        plan.push([ct[k], addLocal(ct[k], IN, localAt[inner])]);
      }
      return plan;
    });
    // Bottom-up: deepest containers first, so that a container's size is known before its level.
    const order = [...levels.keys()].filter((k) => k >= 0).sort((a, b) => depth[b] - depth[a]);
    order.push(-1);
    const size = new Float64Array(nodes.length * 2);
    nodes.forEach((n, i) => { size[2 * i] = n.w; size[2 * i + 1] = n.h; });
    for (const key of order) {
      const lv = levels.get(key)!;
      const top = key < 0;
      if (!top && lv.children.length === 0) {
        size[2 * key] = Math.max(MIN_W * 1.5, nodes[key].minW);
        size[2 * key + 1] = HEADER_H + 2 * GROUP_PAD;
        continue;
      }
      stats.levels++;
      const sizes: Array<[number, number]> = [];
      if (lv.hasIn) { lv.inAt = sizes.length; sizes.push([8, 2]); }
      for (const c of lv.children) sizes.push([size[2 * c], size[2 * c + 1]]);
      if (lv.hasOut) { lv.outAt = sizes.length; sizes.push([8, 2]); }
      const shift = lv.hasIn ? 1 : 0;
      const idx = (a: number) => (a === IN ? lv.inAt : a === OUT ? lv.outAt : a + shift);
      const g: LevelGraph = { sizes, edges: lv.edges.map(([a, b]) => [idx(a), idx(b)]) };
      const k = levelKey(g);
      let res = this.cache.get(k);
      if (res) stats.cached++;
      else {
        res = this.elk && sizes.length <= this.elkMax && sizes.length > 1 ? await elkLevel(this.elk, g) : quickLevel(g);
        res = trimBorders(res, sizes, lv.inAt, lv.outAt);
        stats.laidOut++;
        if (res.engine === "elk") stats.elk++;
        else stats.quick++;
        if (this.cache.size >= this.maxEntries) this.cache.clear();
        this.cache.set(k, res);
      }
      lv.result = res;
      if (!top) {
        const w = Math.max(res.width + 2 * GROUP_PAD, nodes[key].minW);
        size[2 * key] = w;
        size[2 * key + 1] = res.height + HEADER_H + 8 + GROUP_PAD;
        lv.ox = (w - res.width) / 2;
        lv.oy = HEADER_H + 8;
      }
    }
    // Top-down: absolute positions.
    const root = levels.get(-1)!;
    const abs = new Float64Array(nodes.length * 2);
    const origin = new Map<number, [number, number]>();
    origin.set(-1, [ROOT_PAD, ROOT_PAD]);
    const place = (key: number) => {
      const lv = levels.get(key)!;
      const [ox, oy] = origin.get(key)!;
      const res = lv.result;
      const shift = lv.hasIn ? 1 : 0;
      lv.children.forEach((c, li) => {
        abs[2 * c] = ox + (res ? res.pos[2 * (li + shift)] : 0);
        abs[2 * c + 1] = oy + (res ? res.pos[2 * (li + shift) + 1] : 0);
        if (nodes[c].container) {
          const inner = levels.get(c)!;
          origin.set(c, [abs[2 * c] + inner.ox, abs[2 * c + 1] + inner.oy]);
          place(c);
        }
      });
    };
    place(-1);
    const boxes: Box[] = nodes.map((n, i) => ({
      id: n.id, x: abs[2 * i], y: abs[2 * i + 1], w: size[2 * i], h: size[2 * i + 1],
      depth: depth[i], container: n.container,
    }));
    const edges: EdgePath[] = input.edges.map((e, i) => {
      const points: number[] = [];
      for (const [key, le] of plans[i]) {
        const r = levels.get(key)!.result?.routes[le];
        if (!r) continue;
        const [ox, oy] = origin.get(key)!;
        for (let j = 0; j < r.length; j += 2) points.push(r[j] + ox, r[j + 1] + oy);
      }
      return { ...e, points };
    });
    const rw = root.result?.width ?? 0, rh = root.result?.height ?? 0;
    const t1 = typeof performance !== "undefined" ? performance.now() : Date.now();
    stats.ms = t1 - t0;
    return { boxes, edges, width: rw + 2 * ROOT_PAD, height: rh + 2 * ROOT_PAD, stats };
  }
}

/** Message from the page to the layout worker, and its answer. */
export interface LayoutRequest extends LayoutInput { id: number }
export type LayoutReply = { id: number; layout: Layout } | { id: number; error: string };

/** Runs one request with a layout engine; shared by the worker and the fallback. */
export async function runLayout(engine: LayoutEngine, req: LayoutRequest): Promise<LayoutReply> {
  try {
    return { id: req.id, layout: await engine.layout(req) };
  } catch (err) {
    return { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
}
