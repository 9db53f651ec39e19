// The layout's vocabulary, shared by the page and the layout worker: the boxes and edge paths
// a layout returns, the sizes the page measures for each node (fonts, paddings, spacings),
// the request built from a visible graph, and the messages to and from the worker. The
// engine is layout_engine.ts.
import type { GraphNode } from "./types";
import type { VisibleEdge, VisibleGraph } from "./graph_model";
import { formatCount, formatShape } from "./graph_model";

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

export const NODE_H = 48;
export const MIN_W = 96;
/** Widest box a long layer name or shape makes; a class name is never cut (the box grows). */
export const MAX_W = 300;
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

/** A box's second line: the class, and for a collapsed group its parameter count. */
export function classLine(node: GraphNode): string {
  return node.kind === "group" ? `${node.class_name} · ${formatCount(node.params)} params` : node.class_name;
}

/**
 * Size of a node's box (leaf or collapsed group); containers get their size from their
 * inside. The class line always fits; the name and shape lines fit up to `MAX_W`.
 */
export function nodeSize(node: GraphNode, measure: Measure): { width: number; height: number } {
  const other = Math.max(measure(node.name, FONT_NAME), measure(formatShape(node.output_shape), FONT_SMALL));
  const extra = 2 * PAD_X + (node.kind === "group" ? TOGGLE_W : 0) + 2;
  // Rounded up with a little slack so the label measured here fits when drawn.
  const cls = Math.ceil(measure(classLine(node), FONT_SMALL) + extra);
  const w = Math.min(MAX_W, Math.ceil(other + extra));
  return { width: Math.max(MIN_W, cls, w), height: NODE_H };
}

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

/** Message from the page to the layout worker, and its answer. */
export interface LayoutRequest extends LayoutInput { id: number }
export type LayoutReply = { id: number; layout: Layout } | { id: number; error: string };
