// Layer families (the graph JSON's `family`, computed in Python from the Keras class
// hierarchy: risk_widgets/graph/details.py) and their colours, in both themes. A node is
// filled with its family's colour blended into the background, so that its text stays
// readable; the legend lists the families present.
import type { GraphNode } from "./types";
import { mix } from "./colors";

/** Per family: [colour on a light background, colour on a dark one]. */
export const FAMILY_COLORS: Record<string, [string, string]> = {
  dense: ["#1e6fd9", "#5ea2ff"],
  convolution: ["#6a3d9a", "#b088e0"],
  attention: ["#e0620d", "#ff9a52"],
  normalization: ["#2e8b3a", "#5fcf6b"],
  embedding: ["#8d5a3b", "#d19a75"],
  activation: ["#d32f2f", "#ff6b6b"],
  pooling: ["#00838f", "#3fd0dc"],
  merge: ["#9a8f00", "#dccd2e"],
  recurrent: ["#c2185b", "#f06ea6"],
  dropout: ["#607d8b", "#9fb7c3"],
  reshape: ["#8d6e63", "#bca59c"],
  patch: ["#ef6c00", "#ffa040"],
  other: ["#9e9e9e", "#9e9e9e"],
  group: ["#78909c", "#90a4ae"],
  io: ["#455a64", "#b0bec5"],
};

/** Legend order; `group` and `io` are not listed (their shape says what they are). */
export const FAMILY_ORDER = ["dense", "convolution", "attention", "normalization", "embedding",
  "activation", "pooling", "merge", "recurrent", "dropout", "reshape", "patch", "other"];

const LABELS: Record<string, string> = { io: "input / output" };

export function familyLabel(family: string): string {
  return LABELS[family] ?? family;
}

/** A node's family; graphs from before the field: groups "group", inputs/outputs "io". */
export function familyOf(n: GraphNode): string {
  if (n.family && FAMILY_COLORS[n.family]) return n.family;
  return n.kind === "group" ? "group" : n.kind === "input" || n.kind === "output" ? "io" : "other";
}

/** The family's full colour in this theme. */
export function familyColor(family: string, dark: boolean): string {
  const c = FAMILY_COLORS[family] ?? FAMILY_COLORS.other;
  return dark ? c[1] : c[0];
}

/** How much of the family colour a node's fill takes, over the background. */
export const FILL_SHARE = { light: 0.2, dark: 0.32 } as const;

/** A node's fill: its family colour blended into the background `bg`. */
export function familyFill(family: string, bg: string, dark: boolean): string {
  return mix(bg, familyColor(family, dark), dark ? FILL_SHARE.dark : FILL_SHARE.light);
}

/** The families of `nodes` in legend order (only those with a legend entry). */
export function familiesPresent(nodes: Iterable<GraphNode>): string[] {
  const seen = new Set<string>();
  for (const n of nodes) seen.add(familyOf(n));
  return FAMILY_ORDER.filter((f) => seen.has(f));
}
