// How a patch shows on a node: its badge colour and short label, and the list of patches a
// node carries. Shared by the canvas badges, the node mirror, the tooltip and the legend.
import type { GraphNode, PatchMark } from "./types";

const PATCH_COLORS: Record<string, string> = {
  lora: "#8e24aa", svf: "#00897b", sample: "#ef6c00", vote: "#1e88e5", sculpt: "#d81b60",
};
const PATCH_LABELS: Record<string, string> = {
  lora: "LoRA", svf: "SVF", sample: "MC", vote: "Vote", sculpt: "Var",
};

export function patchColor(kind: string): string {
  if (PATCH_COLORS[kind]) return PATCH_COLORS[kind];
  let h = 0;
  for (const c of kind) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h}, 60%, 45%)`;
}
export function patchLabel(kind: string): string {
  return PATCH_LABELS[kind] ?? kind;
}

/** All patches of a node (`patches`; a graph without it gives `patch` alone). */
export function nodePatches(n: GraphNode | undefined): PatchMark[] {
  if (!n) return [];
  if (n.patches && n.patches.length) return n.patches;
  return n.patch ? [{ ...n.patch, name: null, active: true }] : [];
}

/** A badge's text: the kind, with the adapter's name when several patches stack. */
export function markLabel(mark: PatchMark, stacked: boolean): string {
  return stacked && mark.name ? `${patchLabel(mark.kind)}:${mark.name}` : patchLabel(mark.kind);
}
