import { describe, expect, it } from "vitest";
import ELK from "elkjs/lib/elk.bundled.js";
import { indexGraph, syntheticGraph, visibleGraph } from "../src/graph_model";
import type { Graph } from "../src/types";
import { approxMeasure, buildLayoutInput, containerMinWidth, type Layout } from "../src/layout";
import { LayoutEngine, runLayout } from "../src/layout_engine";
import { quickLevel } from "../src/quick_level";
import type { Elk, ElkNode } from "../src/elk_level";

const elk = new ELK();

async function layoutOf(blocks: number, per: number, expanded: string[]): Promise<Layout> {
  const index = indexGraph(syntheticGraph(blocks, per));
  const vis = visibleGraph(index, expanded);
  const reply = await runLayout(new LayoutEngine(elk), { id: 1, ...buildLayoutInput(vis, approxMeasure) });
  if ("error" in reply) throw new Error(reply.error);
  return reply.layout;
}

const inside = (a: { x: number; y: number; w: number; h: number }, b: typeof a) =>
  a.x >= b.x - 0.5 && a.y >= b.y - 0.5 && a.x + a.w <= b.x + b.w + 0.5 && a.y + a.h <= b.y + b.h + 0.5;

describe("layout", () => {
  it("lays out collapsed groups as boxes, in flow order top to bottom", async () => {
    const lay = await layoutOf(3, 4, []);
    expect(lay.boxes.map((b) => b.id)).toEqual(["input", "block_0", "block_1", "block_2", "output_0"]);
    const y = (id: string) => lay.boxes.find((b) => b.id === id)!.y;
    expect(y("input")).toBeLessThan(y("block_0"));
    expect(y("block_0")).toBeLessThan(y("block_2"));
    expect(lay.edges).toHaveLength(4);
    for (const e of lay.edges) expect(e.points.length).toBeGreaterThanOrEqual(4);
  });

  it("places children of an expanded group inside it, in absolute coordinates", async () => {
    const lay = await layoutOf(3, 4, ["block_1"]);
    const group = lay.boxes.find((b) => b.id === "block_1")!;
    expect(group.container).toBe(true);
    const kids = lay.boxes.filter((b) => b.id.startsWith("block_1/"));
    expect(kids).toHaveLength(4);
    for (const k of kids) {
      expect(k.depth).toBe(1);
      expect(inside(k, group)).toBe(true);
    }
    // The edge into the group's first layer ends at that layer's box (absolute coordinates).
    const e = lay.edges.find((x) => x.target === "block_1/dense_0")!;
    const t = kids.find((k) => k.id === "block_1/dense_0")!;
    const [ex, ey] = e.points.slice(-2);
    expect(ex).toBeGreaterThanOrEqual(t.x - 1);
    expect(ex).toBeLessThanOrEqual(t.x + t.w + 1);
    expect(Math.abs(ey - t.y)).toBeLessThan(2);
  });

  it("makes containers wide enough for their header label, however deep", async () => {
    const g = syntheticGraph(2, 1);
    // A nested group with one narrow child and a long class name.
    g.nodes.push({ ...g.nodes.find((n) => n.id === "block_0/dense_0")!, id: "block_0/inner", name: "inner",
      kind: "group", class_name: "AVeryLongCompositeLayerClassName" });
    g.nodes.push({ ...g.nodes.find((n) => n.id === "block_0/dense_0")!, id: "block_0/inner/x", name: "x", parent: "block_0/inner" });
    const index = indexGraph(g);
    const vis = visibleGraph(index, ["block_0", "block_0/inner"]);
    const reply = await runLayout(new LayoutEngine(elk), { id: 1, ...buildLayoutInput(vis, approxMeasure) });
    if ("error" in reply) throw new Error(reply.error);
    for (const id of ["block_0", "block_0/inner"]) {
      const b = reply.layout.boxes.find((x) => x.id === id)!;
      expect(b.w).toBeGreaterThanOrEqual(containerMinWidth(index.byId.get(id)!, approxMeasure));
      expect(b.h).toBeLessThan(400);
    }
  });

  it("lays out a 1000-node graph (benchmark-ish, no timing assertion)", async () => {
    const blocks = 100;
    const expanded = Array.from({ length: blocks }, (_, i) => `block_${i}`);
    const t0 = performance.now();
    const lay = await layoutOf(blocks, 10, expanded);
    const ms = performance.now() - t0;
    console.log(`layout of ${lay.boxes.length} boxes / ${lay.edges.length} edges: ${ms.toFixed(0)} ms`);
    expect(lay.boxes.length).toBe(2 + blocks + blocks * 10);
    expect(lay.edges.length).toBe(blocks * 11 + 1);
  }, 120_000);
});

/** An ELK that records the size of every graph it is asked to lay out. */
function countingElk(): Elk & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    layout(g: ElkNode) {
      calls.push(g.children?.length ?? 0);
      return (elk as unknown as Elk).layout(g);
    },
  };
}

/** Graph with blocks of different lengths, so that no two blocks share a layout. */
function unevenGraph(): Graph {
  const g = syntheticGraph(4, 3);
  // block_1 gets two more layers, block_2 one more: three different block structures.
  const extra = (block: string, i: number) => {
    const base = g.nodes.find((n) => n.id === `${block}/dense_0`)!;
    g.nodes.push({ ...base, id: `${block}/extra_${i}`, name: `extra_${i}` });
    g.edges.push({ source: `${block}/dense_2`, target: `${block}/extra_${i}` });
  };
  extra("block_1", 0); extra("block_1", 1); extra("block_2", 0);
  return g;
}

describe("layout cache (hierarchical layout)", () => {
  const run = async (engine: LayoutEngine, index: ReturnType<typeof indexGraph>, expanded: string[]) => {
    const vis = visibleGraph(index, expanded);
    return engine.layout(buildLayoutInput(vis, approxMeasure));
  };

  it("expanding a group lays out only that group and the top level; collapsing reuses the cache", async () => {
    const counting = countingElk();
    const engine = new LayoutEngine(counting);
    const index = indexGraph(unevenGraph());
    const first = await run(engine, index, []);
    expect(first.stats).toMatchObject({ levels: 1, laidOut: 1, cached: 0 });
    expect(counting.calls).toEqual([6]); // input, 4 blocks, output

    counting.calls.length = 0;
    const open = await run(engine, index, ["block_1"]);
    // block_1's inside (in, 5 layers, out) and the top level (whose block_1 box grew).
    expect(open.stats).toMatchObject({ levels: 2, laidOut: 2, cached: 0 });
    expect(counting.calls).toEqual([7, 6]);

    counting.calls.length = 0;
    const closed = await run(engine, index, []);
    expect(closed.stats).toMatchObject({ levels: 1, laidOut: 0, cached: 1 });
    expect(counting.calls).toEqual([]);
    expect(closed.boxes).toEqual(first.boxes);
    expect(closed.edges).toEqual(first.edges);

    counting.calls.length = 0;
    const again = await run(engine, index, ["block_1"]);
    expect(again.stats).toMatchObject({ laidOut: 0, cached: 2 });
    expect(again.boxes).toEqual(open.boxes);

    // A second group: only its own inside and the top level are new; block_1 comes from the cache.
    counting.calls.length = 0;
    const both = await run(engine, index, ["block_1", "block_2"]);
    expect(both.stats).toMatchObject({ levels: 3, laidOut: 2, cached: 1 });
    expect(counting.calls).toEqual([6, 6]);
  });

  it("groups of the same structure share one layout (expand-all of repeated blocks)", async () => {
    const counting = countingElk();
    const engine = new LayoutEngine(counting);
    const blocks = 50;
    const index = indexGraph(syntheticGraph(blocks, 6));
    const all = Array.from({ length: blocks }, (_, i) => `block_${i}`);
    const lay = await run(engine, index, all);
    expect(lay.stats).toMatchObject({ levels: blocks + 1, laidOut: 2, cached: blocks - 1 });
    // Every block is laid out alike, at its own place.
    const b0 = lay.boxes.find((b) => b.id === "block_0")!;
    const b7 = lay.boxes.find((b) => b.id === "block_7")!;
    const k0 = lay.boxes.find((b) => b.id === "block_0/dense_3")!;
    const k7 = lay.boxes.find((b) => b.id === "block_7/dense_3")!;
    expect(k7.x - b7.x).toBeCloseTo(k0.x - b0.x);
    expect(k7.y - b7.y).toBeCloseTo(k0.y - b0.y);
    expect(b7.y).toBeGreaterThan(b0.y + b0.h);
  });

  it("edges crossing group borders are continuous polylines from the source box to the target box", async () => {
    const engine = new LayoutEngine(elk);
    const index = indexGraph(syntheticGraph(3, 4));
    const lay = await run(engine, index, ["block_0", "block_1"]);
    const box = (id: string) => lay.boxes.find((b) => b.id === id)!;
    // block_0/dense_3 -> block_1/dense_0 leaves block_0 and enters block_1.
    const e = lay.edges.find((x) => x.source === "block_0/dense_3" && x.target === "block_1/dense_0")!;
    const s = box(e.source), t = box(e.target);
    const [x0, y0] = e.points, [x1, y1] = e.points.slice(-2);
    expect(Math.abs(y0 - (s.y + s.h))).toBeLessThan(2);
    expect(x0).toBeGreaterThanOrEqual(s.x - 1);
    expect(x0).toBeLessThanOrEqual(s.x + s.w + 1);
    expect(Math.abs(y1 - t.y)).toBeLessThan(2);
    // It passes below block_0's box and above block_1's children.
    expect(e.points.length).toBeGreaterThanOrEqual(8);
    for (let j = 1; j < e.points.length; j += 2) expect(e.points[j]).toBeGreaterThanOrEqual(y0 - 1);
  });

  it("falls back to the quick layout for levels over the ELK limit, same boxes and edges", async () => {
    const counting = countingElk();
    const engine = new LayoutEngine(counting, 50);
    const index = indexGraph(syntheticGraph(100, 2));
    const lay = await run(engine, index, []);
    expect(counting.calls).toEqual([]);
    expect(lay.stats).toMatchObject({ quick: 1, elk: 0 });
    expect(lay.boxes).toHaveLength(102);
    for (const e of lay.edges) expect(e.points.length).toBeGreaterThanOrEqual(4);
    const y = (id: string) => lay.boxes.find((b) => b.id === id)!.y;
    expect(y("input")).toBeLessThan(y("block_0"));
    expect(y("block_0")).toBeLessThan(y("block_99"));
  });

  it("quick layout: chain with a skip edge, no overlaps, skip routed around the middle", () => {
    const sizes: Array<[number, number]> = [[100, 48], [120, 48], [100, 48], [100, 48]];
    const res = quickLevel({ sizes, edges: [[0, 1], [1, 2], [2, 3], [0, 3], [0, 2]] });
    const ys = [0, 1, 2, 3].map((i) => res.pos[2 * i + 1]);
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
    for (let i = 1; i < 4; i++) expect(ys[i]).toBeGreaterThanOrEqual(ys[i - 1] + 48);
    const skip = res.routes[3];
    const right = Math.max(...[1, 2].map((i) => res.pos[2 * i] + sizes[i][0]));
    expect(Math.max(...skip.filter((_, j) => j % 2 === 0))).toBeGreaterThan(right);
    expect(res.width).toBeGreaterThanOrEqual(120);
  });

  it("lays out a 10,000-node expanded graph (no timing assertion)", async () => {
    const engine = new LayoutEngine(elk);
    const index = indexGraph(syntheticGraph(1000, 10));
    const all = Array.from({ length: 1000 }, (_, i) => `block_${i}`);
    const t0 = performance.now();
    const lay = await run(engine, index, all);
    console.log(`hierarchical layout of ${lay.boxes.length} boxes: ${(performance.now() - t0).toFixed(0)} ms`, lay.stats);
    expect(lay.boxes).toHaveLength(2 + 1000 + 10_000);
    expect(lay.stats!.laidOut).toBe(2);
  }, 60_000);
});
