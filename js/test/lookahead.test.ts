import { describe, expect, it } from "vitest";
import ELK from "elkjs/lib/elk.bundled.js";
import { indexGraph, syntheticGraph, visibleGraph } from "../src/graph_model";
import type { Graph } from "../src/types";
import { approxMeasure, buildLayoutInput, type Layout } from "../src/layout";
import { LayoutEngine } from "../src/layout_engine";
import { edgesByNode, groupInside, lookaheadInputs } from "../src/lookahead";

const elk = new ELK();

/** A graph with a nested group and edges that cross group borders in both directions. */
function nestedGraph(): Graph {
  const g = syntheticGraph(3, 4);
  const base = g.nodes.find((n) => n.id === "block_1/dense_0")!;
  g.nodes.push({ ...base, id: "block_1/inner", name: "inner", kind: "group", class_name: "Inner" });
  g.nodes.push({ ...base, id: "block_1/inner/a", name: "a", parent: "block_1/inner" });
  g.nodes.push({ ...base, id: "block_1/inner/b", name: "b", parent: "block_1/inner" });
  g.edges.push({ source: "block_1/dense_1", target: "block_1/inner/a" });
  g.edges.push({ source: "block_1/inner/a", target: "block_1/inner/b" });
  g.edges.push({ source: "block_1/inner/b", target: "block_1/dense_3" });
  // Skip connections from outside into the nested group and out of it past the block.
  g.edges.push({ source: "input", target: "block_1/inner/b" });
  g.edges.push({ source: "block_1/inner/a", target: "output_0" });
  return g;
}

async function expandAfter(engine: LayoutEngine, g: Graph, expanded: string[]): Promise<Layout> {
  const vis = visibleGraph(indexGraph(g), expanded);
  return engine.layout(buildLayoutInput(vis, approxMeasure));
}

describe("look-ahead layout of collapsed groups", () => {
  it("lays out a group's inside so that expanding it finds that level in the cache", async () => {
    const g = nestedGraph();
    const index = indexGraph(g);
    for (const [open, group] of [[[], "block_1"], [["block_1"], "block_1/inner"], [[], "block_0"]] as const) {
      const cold = await expandAfter(new LayoutEngine(elk), g, [...open, group]);
      const engine = new LayoutEngine(elk);
      await expandAfter(engine, g, [...open]); // what is on screen before the expand
      const inside = groupInside(index, edgesByNode(index), group, approxMeasure)!;
      await engine.layout(inside.input);
      const warm = await expandAfter(engine, g, [...open, group]);
      // One level fewer laid out: the group's inside came from the look-ahead.
      expect(warm.stats!.laidOut, group).toBe(cold.stats!.laidOut - 1);
      expect(warm.stats!.cached, group).toBe(cold.stats!.cached + 1);
      // And it is the same drawing.
      expect(warm.boxes).toEqual(cold.boxes);
      expect(warm.edges).toEqual(cold.edges);
    }
  });

  it("ties edges that cross the group's border to stand-ins outside it", () => {
    const g = nestedGraph();
    const index = indexGraph(g);
    const { input } = groupInside(index, edgesByNode(index), "block_1/inner", approxMeasure)!;
    const ids = input.nodes.map((n) => n.id);
    expect(ids).toEqual(["\u0000in", "block_1/inner", "block_1/inner/a", "block_1/inner/b", "\u0000out"]);
    const e = input.edges.map((x) => `${x.source}>${x.target}`.replaceAll("\u0000", "~"));
    expect(e).toEqual(["~in>block_1/inner/a", "block_1/inner/a>block_1/inner/b", "block_1/inner/b>~out",
      "~in>block_1/inner/b", "block_1/inner/a>~out"]);
    expect(groupInside(index, edgesByNode(index), "block_1/inner/a", approxMeasure)).toBeNull();
    expect(groupInside(index, edgesByNode(index), "no_such_group", approxMeasure)).toBeNull();
  });

  it("sends one input per distinct group shape, the most common first, capped", async () => {
    const g = nestedGraph();
    const index = indexGraph(g);
    const top = visibleGraph(index, []).nodes.map((n) => n.id);
    const inputs = (await lookaheadInputs(index, top, approxMeasure))!;
    // block_0 and block_2 share a shape; block_1 (with its nested group) is another.
    expect(inputs).toHaveLength(2);
    expect(inputs[0].nodes[1].id).toBe("block_0");
    expect(inputs[1].nodes[1].id).toBe("block_1");
    expect(await lookaheadInputs(index, top, approxMeasure, { max: 1 })).toHaveLength(1);
    const big = indexGraph(syntheticGraph(1000, 9));
    const bigTop = visibleGraph(big, []).nodes.map((n) => n.id);
    // 1,000 identical blocks (the first and last differ only at the graph's ends).
    let pauses = 0;
    const found = await lookaheadInputs(big, bigTop, approxMeasure, { sliceMs: 0, pause: async () => { pauses++; } });
    expect(found!.length).toBeLessThanOrEqual(3);
    expect(pauses).toBeGreaterThan(900); // gives the page back between groups
    // A newer scene stops the scan.
    expect(await lookaheadInputs(big, bigTop, approxMeasure, { sliceMs: 0, stale: () => true })).toBeNull();
  });
});
