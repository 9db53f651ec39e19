// The hierarchical, cached layout engine that runs in the worker (and in node for tests).
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
import type { Box, EdgePath, Layout, LayoutInput, LayoutReply, LayoutRequest, LayoutStats } from "./layout";
import { GROUP_PAD, HEADER_H, MIN_W, ROOT_PAD } from "./layout";
import type { LevelGraph, LevelResult } from "./layout_level";
import { trimBorders } from "./layout_level";
import { ELK_MAX_NODES, elkLevel, type Elk } from "./elk_level";
import { quickLevel } from "./quick_level";
import { IN, OUT, splitLevels } from "./layout_hierarchy";

/** The cache key of a level: its structure (child sizes and local edges), nothing else. */
function levelKey(g: LevelGraph): string {
  let s = "";
  for (const [w, h] of g.sizes) s += `${w},${h};`;
  s += "|";
  for (const [a, b] of g.edges) s += `${a}>${b};`;
  return s;
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
    const { levels, plans, depth } = splitLevels(input);
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

/** Runs one request with a layout engine; shared by the worker and the fallback. */
export async function runLayout(engine: LayoutEngine, req: LayoutRequest): Promise<LayoutReply> {
  try {
    return { id: req.id, layout: await engine.layout(req) };
  } catch (err) {
    return { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
}
