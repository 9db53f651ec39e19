// The details of one node (pure), for the side panel: path and class, key config fields,
// input and output shapes, weights, parameter counts, patches, and for a group its children
// and descendants. Read from the graph JSON only (docs/architecture.md "Graph JSON").
import type { GraphIndex } from "./graph_model";
import { formatShape } from "./graph_model";
import { familyOf } from "./families";
import { nodePatches } from "./patch_marks";

export interface ConfigRow { key: string; value: string }
export interface WeightRow { name: string; shape: string; dtype: string; trainable: boolean }
export interface PatchRow { kind: string; name: string | null; params: string; active: boolean }
export interface ChildRow { id: string; name: string; className: string; params: number; trainable: number }

export interface NodeDetails {
  id: string;
  name: string;
  className: string;
  kind: string;
  family: string;
  opaque: boolean;
  config: ConfigRow[];
  input: string;
  output: string;
  weights: WeightRow[];
  /** Weights of the layer not listed (the graph JSON lists 16 at most). */
  weightsMore: number;
  params: number;
  trainable: number;
  patches: PatchRow[];
  /** Groups: direct children, in graph order. */
  children: ChildRow[] | null;
  /** Groups: every node inside, at any depth. */
  descendants: { count: number; layers: number; groups: number } | null;
}

/** A config value as text: tuples as `(3, 3)`, texts as they are. */
export function formatConfigValue(v: unknown): string {
  if (Array.isArray(v)) return "(" + v.map(formatConfigValue).join(", ") + ")";
  if (v === null || v === undefined) return "None";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function formatParams(p: Record<string, unknown> | undefined): string {
  return Object.entries(p ?? {}).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${formatConfigValue(v)}`).join(", ");
}

export function nodeDetails(index: GraphIndex, id: string): NodeDetails | null {
  const n = index.byId.get(id);
  if (!n) return null;
  const group = n.kind === "group";
  let children: ChildRow[] | null = null;
  let descendants: NodeDetails["descendants"] = null;
  if (group) {
    children = (index.children.get(id) ?? []).map((c) => {
      const k = index.byId.get(c)!;
      return { id: c, name: k.name, className: k.class_name, params: k.params, trainable: k.trainable_params };
    });
    const d = { count: 0, layers: 0, groups: 0 };
    const stack = [...(index.children.get(id) ?? [])];
    const seen = new Set<string>([id]);
    while (stack.length) {
      const c = stack.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      d.count++;
      if (index.byId.get(c)?.kind === "group") d.groups++;
      else d.layers++;
      stack.push(...(index.children.get(c) ?? []));
    }
    descendants = d;
  }
  return {
    id, name: n.name, className: n.class_name, kind: n.kind, family: familyOf(n),
    opaque: Boolean(n.opaque),
    config: Object.entries(n.config ?? {}).map(([key, v]) => ({ key, value: formatConfigValue(v) })),
    input: formatShape(n.input_shape ?? null),
    output: formatShape(n.output_shape),
    weights: (n.weights ?? []).map((w) => ({ name: w.name, shape: formatConfigValue(w.shape), dtype: w.dtype,
      trainable: w.trainable })),
    weightsMore: n.weights_more ?? 0,
    params: n.params,
    trainable: n.trainable_params,
    patches: nodePatches(n).map((m) => ({ kind: m.kind, name: m.name, params: formatParams(m.params), active: m.active })),
    children,
    descendants,
  };
}
