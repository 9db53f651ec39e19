// A small graph for the graph-view tests (find, details, overlays, navigation):
// x -> block{ attn{ query, value }, ffn } -> head -> output_0, with families, config, weights.
import type { Graph, GraphNode } from "../src/types";

export function node(id: string, kind: GraphNode["kind"], parent: string | null, extra: Partial<GraphNode> = {}): GraphNode {
  return {
    id, name: id.split("/").pop()!, class_name: kind === "group" ? "Block" : "Dense", kind, parent,
    output_shape: [null, 8], params: 10, trainable_params: 10, patch: null, patchable: [], opaque: false,
    ...extra,
  };
}

export const G: Graph = {
  name: "t",
  nodes: [
    node("x", "input", null, { class_name: "InputLayer", family: "io", params: 0, trainable_params: 0 }),
    node("block", "group", null, { class_name: "TransformerBlock", family: "group", params: 30, trainable_params: 12 }),
    node("block/attn", "group", "block", { class_name: "MultiHeadAttention", family: "attention", opaque: true,
      params: 20, trainable_params: 4, config: { num_heads: 4, key_dim: 8, dtype: "float32" } }),
    node("block/attn/query", "layer", "block/attn", { class_name: "EinsumDense", family: "dense",
      input_shape: [null, 16, 32], output_shape: [null, 16, 4, 8], trainable_params: 4,
      config: { equation: "abc,cde->abde", kernel_size: [3, 3], dtype: "float32" },
      weights: [{ name: "kernel", shape: [32, 4, 8], dtype: "float32", trainable: false },
        { name: "default/lora_a", shape: [32, 2], dtype: "float32", trainable: true }],
      weights_more: 2,
      patch: { kind: "lora", params: { rank: 2, alpha: null } },
      patches: [{ kind: "lora", name: "default", active: true, params: { rank: 2, alpha: null } }] }),
    node("block/attn/value", "layer", "block/attn", { class_name: "EinsumDense", family: "dense", trainable_params: 0 }),
    node("block/ffn", "layer", "block", { family: "dense", trainable_params: 8 }),
    node("head", "layer", null, { family: "dense", params: 9, trainable_params: 9 }),
    node("output_0", "output", null, { class_name: "Output", family: "io", params: 0, trainable_params: 0 }),
  ],
  edges: [
    { source: "x", target: "block/attn" },
    { source: "block/attn", target: "block/ffn" },
    { source: "block/ffn", target: "head" },
    { source: "x", target: "head" },
    { source: "head", target: "output_0" },
  ],
};
