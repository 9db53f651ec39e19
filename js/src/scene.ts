// What the canvas draws besides the layout: node state, selection, risk and overlay marks.
// Built by the widget on every change, read by the painter, the node mirror and the tooltip.
import type { GraphNode } from "./types";
import type { Layout } from "./layout";

/** What the view needs to know about each visible node besides its box. */
export interface Scene {
  layout: Layout;
  node(id: string): GraphNode | undefined;
  selection: ReadonlySet<string>;
  /** Collapsed group id -> patch kinds on its descendants. */
  descendantPatches: ReadonlyMap<string, ReadonlySet<string>>;
  /** Collapsed group ids that hold a selected descendant. */
  holdsSelection: ReadonlySet<string>;
  /** Per-layer risk share in [0, 1] (from `risk.layer_risk`), for a bar under the node. */
  risk: ReadonlyMap<string, number>;
  /**
   * A quick layout drawn before the first real one: painted, but not listed in the node
   * mirror, whose rows always describe the layout that stays (tests click on them).
   */
  provisional?: boolean;
  /** Marks drawn over nodes: the target preview, the patch diff and find's hits. */
  overlay?: ReadonlyMap<string, Overlay>;
  /**
   * The per-layer overlay shown (overlay.ts), if any: its name, each node's value, and each
   * node's fill on its colour scale; nodes without a value are drawn plain.
   */
  values?: { name: string; value: ReadonlyMap<string, number>; fill: ReadonlyMap<string, string> };
}

/** A node's overlay: matched by the typed target ("inside": a collapsed group holding matches),
 *  its diff mark, with a line for the tooltip, and find's mark (find.ts). */
export interface Overlay {
  preview?: "match" | "inside";
  diff?: "added" | "changed" | "inside";
  note?: string;
  find?: "hit" | "inside";
}
