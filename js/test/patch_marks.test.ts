import { describe, expect, it } from "vitest";
import { markLabel, nodePatches } from "../src/patch_marks";
import type { GraphNode } from "../src/types";

const node = (extra: Partial<GraphNode>): GraphNode => ({
  id: "head", name: "head", class_name: "Dense", kind: "layer", parent: null,
  output_shape: [null, 2], params: 10, trainable_params: 4, patch: null, patchable: [],
  opaque: false, ...extra,
});

describe("nodePatches", () => {
  const lora = { kind: "lora", params: { rank: 4 } };

  it("lists every stacked patch, in order", () => {
    const n = node({
      patch: lora,
      patches: [{ ...lora, name: "default", active: true },
        { kind: "svf", params: {}, name: "task_b", active: false }],
    });
    expect(nodePatches(n).map((m) => [m.kind, m.name, m.active])).toEqual([
      ["lora", "default", true], ["svf", "task_b", false]]);
  });

  it("falls back on `patch` for a graph without `patches`", () => {
    expect(nodePatches(node({ patch: lora }))).toEqual([{ ...lora, name: null, active: true }]);
    expect(nodePatches(node({}))).toEqual([]);
    expect(nodePatches(undefined)).toEqual([]);
  });

  it("names a badge only when several patches share the node", () => {
    const m = { kind: "lora", params: {}, name: "task_b", active: true };
    expect(markLabel(m, true)).toBe("LoRA:task_b");
    expect(markLabel(m, false)).toBe("LoRA");
    expect(markLabel({ ...m, name: null, kind: "vote" }, true)).toBe("Vote");
  });
});
