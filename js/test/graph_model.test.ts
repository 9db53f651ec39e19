import { describe, expect, it } from "vitest";
import {
  ancestors, asGraph, boxSelect, clickSelect, collapseEdges, formatCount, formatShape, indexGraph,
  pruneSelection, reveal, syntheticGraph, toggleExpanded, validKinds, visibleGraph,
} from "../src/graph_model";
import type { Catalog, Graph, GraphNode } from "../src/types";

function node(id: string, kind: GraphNode["kind"], parent: string | null, patchable: string[] = [], patch: GraphNode["patch"] = null): GraphNode {
  return {
    id, name: id.split("/").pop()!, class_name: kind === "group" ? "Block" : "Dense", kind, parent,
    output_shape: [null, 8], params: 10, trainable_params: 10, patch, patchable, opaque: false,
  };
}

// input -> block_0{ attn{ query, value }, ffn } -> head -> output_0
const G: Graph = {
  name: "t",
  nodes: [
    node("input_layer", "input", null),
    node("block_0", "group", null, ["vote", "sample"]),
    node("block_0/attn", "group", "block_0", ["vote", "sample"]),
    node("block_0/attn/query", "layer", "block_0/attn", ["lora", "svf", "sample", "vote"], { kind: "lora", params: { rank: 4 } }),
    node("block_0/attn/value", "layer", "block_0/attn", ["lora", "svf", "sample", "vote"]),
    node("block_0/ffn", "layer", "block_0", ["lora", "svf", "sample", "vote"]),
    node("head", "layer", null, ["lora", "sample", "vote"]),
    node("output_0", "output", null),
  ],
  edges: [
    { source: "input_layer", target: "block_0/attn/query" },
    { source: "input_layer", target: "block_0/attn/value" },
    { source: "block_0/attn/query", target: "block_0/ffn" },
    { source: "block_0/attn/value", target: "block_0/ffn" },
    { source: "block_0/ffn", target: "head" },
    { source: "input_layer", target: "head" },
    { source: "head", target: "output_0" },
  ],
};

const CATALOG: Catalog = {
  lora: { label: "LoRA", targets: "layers", params: [{ name: "rank", type: "int", default: 8 }] },
  svf: { label: "SVF", targets: "layers", params: [] },
  sample: { label: "Sample", targets: "model", params: [] },
  vote: { label: "Vote", targets: "model", params: [] },
  sculpt: { label: "Sculpt", targets: "model", params: [] },
};

const ids = (g: { nodes: GraphNode[] }) => g.nodes.map((n) => n.id);
const edgeList = (es: { source: string; target: string; count: number }[]) =>
  es.map((e) => `${e.source}->${e.target}x${e.count}`).sort();

describe("visibleGraph", () => {
  const index = indexGraph(G);

  it("shows only top-level nodes when everything is collapsed", () => {
    const v = visibleGraph(index, []);
    expect(ids(v)).toEqual(["input_layer", "block_0", "head", "output_0"]);
    expect(v.containers.size).toBe(0);
    expect(v.rep.get("block_0/attn/query")).toBe("block_0");
    expect(v.rep.get("block_0/ffn")).toBe("block_0");
  });

  it("maps edges to the outermost collapsed group, merging duplicates and dropping self-loops", () => {
    const v = visibleGraph(index, []);
    expect(edgeList(v.edges)).toEqual([
      "block_0->headx1", "head->output_0x1", "input_layer->block_0x2", "input_layer->headx1",
    ]);
  });

  it("shows children of expanded groups, keeping nested collapsed groups as boxes", () => {
    const v = visibleGraph(index, ["block_0"]);
    expect(ids(v)).toEqual(["input_layer", "block_0", "block_0/attn", "block_0/ffn", "head", "output_0"]);
    expect([...v.containers]).toEqual(["block_0"]);
    expect(edgeList(v.edges)).toEqual([
      "block_0/attn->block_0/ffnx2", "block_0/ffn->headx1", "head->output_0x1",
      "input_layer->block_0/attnx2", "input_layer->headx1",
    ]);
  });

  it("hides children of an expanded group whose parent is collapsed", () => {
    const v = visibleGraph(index, ["block_0/attn"]);
    expect(ids(v)).toEqual(["input_layer", "block_0", "head", "output_0"]);
    const all = visibleGraph(index, ["block_0/attn", "block_0"]);
    expect(ids(all)).toContain("block_0/attn/query");
    expect(all.containers).toEqual(new Set(["block_0", "block_0/attn"]));
    expect(edgeList(all.edges)).toHaveLength(G.edges.length);
  });

  it("treats nodes whose parent is missing as top-level, and tolerates an empty trait", () => {
    const g = asGraph({ nodes: [node("a", "layer", "ghost")], edges: [] });
    expect(ids(visibleGraph(indexGraph(g), []))).toEqual(["a"]);
    expect(visibleGraph(indexGraph(asGraph({})), []).nodes).toEqual([]);
  });

  it("collects patch kinds of descendants for collapsed groups", () => {
    expect([...index.descendantPatches.get("block_0")!]).toEqual(["lora"]);
    expect([...index.descendantPatches.get("block_0/attn")!]).toEqual(["lora"]);
    expect(index.descendantPatches.has("head")).toBe(false);
  });
});

describe("collapseEdges", () => {
  it("skips edges whose ends are unknown", () => {
    const rep = new Map([["a", "a"], ["b", "b"]]);
    expect(collapseEdges([{ source: "a", target: "zz" }, { source: "a", target: "b" }], rep))
      .toEqual([{ source: "a", target: "b", count: 1 }]);
  });
});

describe("expand / collapse", () => {
  const index = indexGraph(G);
  it("toggles, and collapsing a group collapses the groups inside it", () => {
    let e = toggleExpanded(index, [], "block_0");
    expect(e).toEqual(["block_0"]);
    e = toggleExpanded(index, e, "block_0/attn");
    expect(e).toEqual(["block_0", "block_0/attn"]);
    expect(toggleExpanded(index, e, "block_0")).toEqual([]);
    expect(toggleExpanded(index, e, "block_0/attn")).toEqual(["block_0"]);
  });
  it("reveal expands every ancestor", () => {
    expect(ancestors(index, "block_0/attn/query")).toEqual(["block_0", "block_0/attn"]);
    expect(reveal(index, [], ["block_0/attn/query"]).sort()).toEqual(["block_0", "block_0/attn"]);
  });
});

describe("selection", () => {
  it("click selects one node, background click clears, shift-click toggles", () => {
    expect(clickSelect(["a", "b"], "c", false)).toEqual(["c"]);
    expect(clickSelect(["a", "b"], null, false)).toEqual([]);
    expect(clickSelect(["a", "b"], null, true)).toEqual(["a", "b"]);
    expect(clickSelect(["a", "b"], "c", true)).toEqual(["a", "b", "c"]);
    expect(clickSelect(["a", "b"], "a", true)).toEqual(["b"]);
  });
  it("box selection replaces, or adds without duplicates", () => {
    expect(boxSelect(["a"], ["b", "c"], false)).toEqual(["b", "c"]);
    expect(boxSelect(["a", "b"], ["b", "c"], true)).toEqual(["a", "b", "c"]);
  });
  it("prunes ids that left the graph", () => {
    expect(pruneSelection(indexGraph(G), ["head", "gone"])).toEqual(["head"]);
  });
});

describe("validKinds", () => {
  const index = indexGraph(G);
  it("offers only model-wide kinds without a selection", () => {
    expect(validKinds(CATALOG, index, [])).toEqual(["sample", "vote", "sculpt"]);
  });
  it("intersects patchable over the selection", () => {
    expect(validKinds(CATALOG, index, ["block_0/attn/query"])).toEqual(["lora", "svf", "sample", "vote", "sculpt"]);
    expect(validKinds(CATALOG, index, ["block_0/attn/query", "head"])).toEqual(["lora", "sample", "vote", "sculpt"]);
    expect(validKinds(CATALOG, index, ["block_0", "head"])).toEqual(["sample", "vote", "sculpt"]);
  });
  it("offers no layer kind when a selected node takes none", () => {
    expect(validKinds(CATALOG, index, ["input_layer"])).toEqual(["sculpt"]);
  });
  it("ignores selected ids that are not in the graph", () => {
    expect(validKinds(CATALOG, index, ["nope"])).toEqual(["sample", "vote", "sculpt"]);
  });
});

describe("labels", () => {
  it("formats shapes and counts", () => {
    expect(formatShape([null, 16, 32])).toBe("(None, 16, 32)");
    expect(formatShape([[null, 4], [null, 2]])).toBe("[(None, 4), (None, 2)]");
    expect(formatShape(null)).toBe("");
    expect(formatCount(950)).toBe("950");
    expect(formatCount(12640)).toBe("12.6k");
    expect(formatCount(3_400_000)).toBe("3.4M");
  });
});

describe("1000-node graph model (benchmark-ish)", () => {
  it("derives visible nodes and collapsed edges for 1000+ nodes", () => {
    const g = syntheticGraph(100, 10);
    const t0 = performance.now();
    const index = indexGraph(g);
    const collapsed = visibleGraph(index, []);
    const all = visibleGraph(index, g.nodes.filter((n) => n.kind === "group").map((n) => n.id));
    const kinds = validKinds(CATALOG, index, all.nodes.filter((n) => n.kind === "layer").map((n) => n.id));
    console.log(`derive ${g.nodes.length} nodes: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(collapsed.nodes).toHaveLength(102);
    expect(collapsed.edges).toHaveLength(101);
    expect(all.nodes).toHaveLength(1102);
    expect(all.edges).toHaveLength(g.edges.length);
    expect(kinds).toEqual(["lora", "svf", "sample", "vote", "sculpt"]);
  });
});
