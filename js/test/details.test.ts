import { describe, expect, it } from "vitest";
import { formatConfigValue, nodeDetails } from "../src/details";
import { indexGraph } from "../src/graph_model";
import { G } from "./graph_view_fixture";

const index = indexGraph(G);

describe("nodeDetails", () => {
  it("a layer: path, class, family, config, shapes, weights, counts and patches", () => {
    const d = nodeDetails(index, "block/attn/query")!;
    expect([d.id, d.name, d.className, d.family]).toEqual(["block/attn/query", "query", "EinsumDense", "dense"]);
    expect(d.config).toEqual([
      { key: "equation", value: "abc,cde->abde" }, { key: "kernel_size", value: "(3, 3)" }, { key: "dtype", value: "float32" }]);
    expect([d.input, d.output]).toEqual(["(None, 16, 32)", "(None, 16, 4, 8)"]);
    expect(d.weights).toEqual([
      { name: "kernel", shape: "(32, 4, 8)", dtype: "float32", trainable: false },
      { name: "default/lora_a", shape: "(32, 2)", dtype: "float32", trainable: true }]);
    expect(d.weightsMore).toBe(2);
    expect([d.params, d.trainable]).toEqual([10, 4]);
    expect(d.patches).toEqual([{ kind: "lora", name: "default", params: "rank=2", active: true }]);
    expect(d.children).toBeNull();
  });

  it("a group: its children with their counts and its descendants", () => {
    const d = nodeDetails(index, "block")!;
    expect(d.children!.map((c) => [c.id, c.className, c.params, c.trainable])).toEqual([
      ["block/attn", "MultiHeadAttention", 20, 4], ["block/ffn", "Dense", 10, 8]]);
    expect(d.descendants).toEqual({ count: 4, layers: 3, groups: 1 });
    expect(d.weights).toEqual([]);
    expect(nodeDetails(index, "nowhere")).toBeNull();
  });

  it("formats values the way Python prints them", () => {
    expect(formatConfigValue([1, [2, 3]])).toBe("(1, (2, 3))");
    expect(formatConfigValue(null)).toBe("None");
    expect(formatConfigValue(true)).toBe("true");
  });
});
