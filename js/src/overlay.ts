// Per-layer overlays (pure): the numbers a node is coloured by and the colour scale. Built in:
// parameters and trainable parameters (from the graph JSON), per-layer risk (the `risk`
// trait's `layer_risk`); from Python: the `overlays` trait (`editor.overlay(name, values)`,
// the gradient norm after `editor.fit`). A group without a value of its own shows the sum of
// its children's (the maximum for risk), so a collapsed block reads at a glance.
import type { GraphIndex } from "./graph_model";
import type { OverlayData } from "./types";
import { formatCount } from "./graph_model";
import { mix } from "./colors";

export const PARAMS = "parameters";
export const TRAINABLE = "trainable parameters";
export const RISK = "risk";

/** The names of the overlays the page can show, in menu order: built-ins first, then Python's. */
export function overlayNames(layerRisk: Record<string, number> | undefined,
  fromPython: Record<string, OverlayData> | undefined): string[] {
  const names = [PARAMS, TRAINABLE];
  if (layerRisk && Object.keys(layerRisk).length) names.push(RISK);
  for (const [name, data] of Object.entries(fromPython ?? {})) {
    if (data && typeof data === "object" && data.values && !names.includes(name)) names.push(name);
  }
  return names;
}

/** The data of overlay `name` (built only when it is shown: the counts walk every node). */
export function overlayData(index: GraphIndex, name: string, layerRisk: Record<string, number> | undefined,
  fromPython: Record<string, OverlayData> | undefined): OverlayData | undefined {
  if (name === PARAMS || name === TRAINABLE) {
    const values: Record<string, number> = {};
    for (const n of index.graph.nodes) {
      if (n.kind !== "input" && n.kind !== "output") values[n.id] = name === PARAMS ? n.params : n.trainable_params;
    }
    return { values, agg: "sum" };
  }
  if (name === RISK) return layerRisk && Object.keys(layerRisk).length ? { values: layerRisk, agg: "max" } : undefined;
  const data = fromPython?.[name];
  return data && typeof data === "object" && data.values ? data : undefined;
}

/** Every overlay the page can show, with its data, in menu order. */
export function overlayChoices(index: GraphIndex, layerRisk: Record<string, number> | undefined,
  fromPython: Record<string, OverlayData> | undefined): Map<string, OverlayData> {
  return new Map(overlayNames(layerRisk, fromPython).map((n) => [n, overlayData(index, n, layerRisk, fromPython)!]));
}

/**
 * The value of every node: its own when given, else (groups) the sum or maximum of its
 * children's, children first. Non-finite values and ids not in the graph are left out.
 */
export function nodeValues(index: GraphIndex, data: OverlayData): Map<string, number> {
  const values = new Map<string, number>();
  const acc = new Map<string, number>();
  const nodes = index.graph.nodes;
  const max = data.agg === "max";
  for (let i = nodes.length - 1; i >= 0; i--) { // children come after their parents
    const n = nodes[i];
    const own = data.values[n.id];
    const v = typeof own === "number" && Number.isFinite(own) ? own : acc.get(n.id);
    if (v === undefined) continue;
    values.set(n.id, v);
    const p = n.parent;
    if (p === null || !index.byId.has(p)) continue;
    const a = acc.get(p);
    acc.set(p, a === undefined ? v : max ? Math.max(a, v) : a + v);
  }
  return values;
}

/** Viridis: dark purple (low) to yellow (high), readable by most colour-blind eyes. */
const STOPS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"];
/** How much of the scale colour a node's fill takes, over the background. */
const SHARE = { light: 0.55, dark: 0.6 } as const;

export interface Scale {
  min: number;
  max: number;
  /** Log scale: the values span two or more orders of magnitude (zeros take the low end). */
  log: boolean;
  /** A value's position in [0, 1]. */
  at(v: number): number;
  /** A node's fill for a value, blended into the background. */
  fill(v: number): string;
  /** Fills at 0, 0.2, ..., 1, for the legend's gradient. */
  stops: string[];
}

function scaleColor(t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  return mix(STOPS[i], STOPS[i + 1], x - i);
}

export function makeScale(values: Iterable<number>, bg: string, dark: boolean): Scale {
  let min = Infinity, max = -Infinity, minPos = Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
    if (v > 0) minPos = Math.min(minPos, v);
  }
  if (min === Infinity) min = max = 0;
  const log = min >= 0 && minPos < Infinity && max / minPos >= 100;
  const lo = log ? Math.log10(minPos) : min;
  const hi = log ? Math.log10(max) : max;
  const at = (v: number) => {
    if (hi === lo) return v >= max ? 1 : 0;
    const x = log ? (v > 0 ? Math.log10(v) : lo) : v;
    return Math.max(0, Math.min(1, (x - lo) / (hi - lo)));
  };
  const share = dark ? SHARE.dark : SHARE.light;
  const fill = (v: number) => mix(bg, scaleColor(at(v)), share);
  const stops = [0, 0.2, 0.4, 0.6, 0.8, 1].map((t) => mix(bg, scaleColor(t), share));
  return { min, max, log, at, fill, stops };
}

/** A value as the legend and the tooltip show it: 12.6k, 0.0341, 3. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return "";
  if (Number.isInteger(v) && Math.abs(v) >= 1000) return (v < 0 ? "−" : "") + formatCount(Math.abs(v));
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(3))) : v.toExponential(2);
}
