// Pure layout helpers: node sizes, the ELK input for the visible graph (compound nodes for
// expanded groups) and the flattened result the canvas draws. Runs in the worker and in node.
import type { GraphNode } from "./types";
import type { VisibleGraph } from "./graph_model";
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

export interface Layout {
  boxes: Box[];
  edges: EdgePath[];
  width: number;
  height: number;
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

export const NODE_H = 48;
export const MIN_W = 96;
export const MAX_W = 260;
export const PAD_X = 10;
export const TOGGLE_W = 22;
export const HEADER_H = 26;
export const GROUP_PAD = 12;

export const FONT_NAME = "600 12px sans-serif";
export const FONT_SMALL = "11px sans-serif";

/** Measures text width in CSS pixels for a font; the canvas provides the real one. */
export type Measure = (text: string, font: string) => number;

/** Rough width when no canvas is available (worker-free tests, node). */
export const approxMeasure: Measure = (text, font) => text.length * (font.startsWith("600") ? 7.2 : 6.2);

/** Size of a node's box (leaf or collapsed group); containers get their size from ELK. */
export function nodeSize(node: GraphNode, measure: Measure): { width: number; height: number } {
  const texts = [measure(node.name, FONT_NAME), measure(node.class_name, FONT_SMALL),
    measure(formatShape(node.output_shape), FONT_SMALL)];
  const extra = node.kind === "group" ? TOGGLE_W : 0;
  // Rounded up with a little slack so the label measured here fits when drawn.
  const w = Math.ceil(Math.max(...texts) + 2 * PAD_X + extra + 2);
  return { width: Math.min(MAX_W, Math.max(MIN_W, w)), height: NODE_H };
}

export const ROOT_OPTIONS: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "DOWN",
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "POLYLINE",
  "elk.spacing.nodeNode": "18",
  "elk.layered.spacing.nodeNodeBetweenLayers": "28",
  "elk.spacing.edgeNode": "12",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.json.shapeCoords": "ROOT",
  "elk.json.edgeCoords": "ROOT",
};

/** Cheaper settings once the visible graph gets big (keeps layout time down). */
export const LARGE_OPTIONS: Record<string, string> = {
  "elk.layered.thoroughness": "1",
  "elk.layered.crossingMinimization.greedySwitch.type": "OFF",
  "elk.layered.nodePlacement.strategy": "LINEAR_SEGMENTS",
};
export const LARGE_GRAPH = 600;

const CONTAINER_OPTIONS: Record<string, string> = {
  "elk.padding": `[top=${HEADER_H + 8},left=${GROUP_PAD},bottom=${GROUP_PAD},right=${GROUP_PAD}]`,
};

/** Width a container needs for its header ("name · class" and the toggle). */
export function containerMinWidth(node: GraphNode, measure: Measure): number {
  return Math.ceil(measure(`${node.name} · ${node.class_name}`, FONT_NAME) + 2 * PAD_X + TOGGLE_W + 2);
}

/** The ELK input for a visible graph, box sizes measured with `measure`. */
export function buildElkGraph(vis: VisibleGraph, measure: Measure): ElkNode {
  const large = vis.nodes.length > LARGE_GRAPH;
  const root: ElkNode = {
    id: "__root__",
    layoutOptions: large ? { ...ROOT_OPTIONS, ...LARGE_OPTIONS } : { ...ROOT_OPTIONS },
    children: [],
    edges: [],
  };
  const elkById = new Map<string, ElkNode>();
  for (const n of vis.nodes) {
    const isContainer = vis.containers.has(n.id);
    const e: ElkNode = isContainer
      ? {
          id: n.id, children: [],
          layoutOptions: {
            ...CONTAINER_OPTIONS,
            "elk.nodeSize.constraints": "MINIMUM_SIZE",
            // (height, width): elkjs 0.12 applies a compound node's minimum size transposed
            // when the direction is DOWN with INCLUDE_CHILDREN (checked in layout.test.ts).
            "elk.nodeSize.minimum": `(${HEADER_H + 2 * GROUP_PAD}, ${Math.min(2 * MAX_W, containerMinWidth(n, measure))})`,
          },
        }
      : { id: n.id, ...nodeSize(n, measure) };
    elkById.set(n.id, e);
    const parent = n.parent !== null ? elkById.get(n.parent) : undefined;
    (parent && parent.children ? parent.children : root.children!).push(e);
  }
  // An expanded group without visible children is drawn as a plain box.
  for (const id of vis.containers) {
    const e = elkById.get(id)!;
    if (e.children!.length === 0) {
      delete e.children;
      e.width = MIN_W * 1.5;
      e.height = HEADER_H + 2 * GROUP_PAD;
    }
  }
  vis.edges.forEach((edge, i) => {
    root.edges!.push({ id: `e${i}`, sources: [edge.source], targets: [edge.target] });
  });
  return root;
}

/** Flattens ELK's result (absolute coordinates, `json.*Coords = ROOT`) for drawing. */
export function flattenLayout(result: ElkNode, vis: Pick<VisibleGraph, "edges" | "containers">): Layout {
  const boxes: Box[] = [];
  const routes = new Map<string, number[]>();
  const walk = (n: ElkNode, depth: number) => {
    for (const c of n.children ?? []) {
      boxes.push({
        id: c.id, x: c.x ?? 0, y: c.y ?? 0, w: c.width ?? 0, h: c.height ?? 0, depth,
        container: vis.containers.has(c.id),
      });
      walk(c, depth + 1);
    }
    for (const e of n.edges ?? []) {
      const pts: number[] = [];
      for (const s of e.sections ?? []) {
        pts.push(s.startPoint.x, s.startPoint.y);
        for (const b of s.bendPoints ?? []) pts.push(b.x, b.y);
        pts.push(s.endPoint.x, s.endPoint.y);
      }
      routes.set(e.id, pts);
    }
  };
  walk(result, 0);
  const edges = vis.edges.map((e, i) => ({ ...e, points: routes.get(`e${i}`) ?? [] }));
  return { boxes, edges, width: result.width ?? 0, height: result.height ?? 0 };
}

/** Message from the page to the layout worker, and its answer. */
export interface LayoutRequest { id: number; graph: ElkNode; edges: VisibleGraph["edges"]; containers: string[] }
export type LayoutReply = { id: number; layout: Layout } | { id: number; error: string };

/** Runs one request with a given ELK instance; shared by the worker and the fallback. */
export async function runLayout(
  elk: { layout(g: ElkNode): Promise<ElkNode> },
  req: LayoutRequest,
): Promise<LayoutReply> {
  try {
    const result = await elk.layout(req.graph);
    return { id: req.id, layout: flattenLayout(result, { edges: req.edges, containers: new Set(req.containers) }) };
  } catch (err) {
    return { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
}
