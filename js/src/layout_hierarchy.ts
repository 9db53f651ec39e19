// Splits a visible graph into levels for the layout engine (layout_engine.ts): the top level
// and the inside of every expanded group, each a flat graph of its direct children, and every
// visible edge into its pieces at the levels it crosses, through a group's invisible "in"
// (top) and "out" (bottom) border nodes where it enters or leaves the group.
import type { LayoutInput } from "./layout";
import type { LevelResult } from "./layout_level";

/** The border nodes of a level in local edges: where edges enter and leave its group. */
export const IN = -1;
export const OUT = -2;

/** One level, keyed by its container's node index (-1: the top level); the engine fills in
 *  the result and the offsets. */
export interface Level {
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

export interface Hierarchy {
  /** Key: container index, -1 for the top level. */
  levels: Map<number, Level>;
  /** Each visible edge: its pieces, as (level key, local edge) from source to target. */
  plans: Array<Array<[number, number]>>;
  /** Nesting depth of each node (0 at the top level). */
  depth: Int32Array;
}

/** The levels of `input` (nodes listed parents before children) and the pieces of its edges. */
export function splitLevels(input: LayoutInput): Hierarchy {
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
  return { levels, plans, depth };
}
