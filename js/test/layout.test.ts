import { describe, expect, it } from "vitest";
import ELK from "elkjs/lib/elk.bundled.js";
import { indexGraph, syntheticGraph, visibleGraph } from "../src/graph_model";
import { approxMeasure, buildElkGraph, containerMinWidth, runLayout, type Layout } from "../src/layout";

const elk = new ELK();

async function layoutOf(blocks: number, per: number, expanded: string[]): Promise<Layout> {
  const index = indexGraph(syntheticGraph(blocks, per));
  const vis = visibleGraph(index, expanded);
  const graph = buildElkGraph(vis, approxMeasure);
  const reply = await runLayout(elk, { id: 1, graph, edges: vis.edges, containers: [...vis.containers] });
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
    const reply = await runLayout(elk, { id: 1, graph: buildElkGraph(vis, approxMeasure), edges: vis.edges, containers: [...vis.containers] });
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
