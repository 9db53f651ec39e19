// Lays out one level with ELK (layered, top to bottom): the slice of ELK's JSON graph we
// write and read back, the options, and when to use cheaper settings or not ELK at all.
import { LAYER_SPACING, SPACING } from "./layout";
import type { LevelGraph, LevelResult } from "./layout_level";

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
