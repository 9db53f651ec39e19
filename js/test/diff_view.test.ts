import { describe, expect, it } from "vitest";
import { diffMarks, diffNote, diffPositions, diffSummary, formatDelta } from "../src/diff_view";
import type { DiffViewState } from "../src/types";

// A `diff_view` answer as risk_widgets.widget_views.diff_payload sends it.
const DIFF: DiffViewState = {
  i: 0, j: 1, labels: ["original", "1. LoRA(rank=2) on hidden"], count: 1,
  added: ["block/extra"], removed: [], changed: ["hidden", "block/inner"],
  reasons: { hidden: ["class", "patch", "weights"], "block/inner": ["weights"], "block/extra": [] },
  classes: { hidden: ["Dense", "LoRAAdapter"] },
  trainable: { hidden: [40, 24], head: [18, 0], "block/extra": [null, 12] },
  trainable_before: 130, trainable_after: 64, trainable_delta: -66,
  output: { max_abs: 0.012345, mean_abs: 0.0021, n: 300, risk_before: null, risk_after: null,
    per_output: [{ max_abs: 0.012345, mean_abs: 0.0021, shape: [300, 2] }] },
  output_error: null, error: null,
};

describe("diffMarks", () => {
  it("marks added and changed nodes, and collapsed groups that hide them", () => {
    const rep = new Map([["block/inner", "block"], ["block/extra", "block"], ["hidden", "hidden"]]);
    expect([...diffMarks(DIFF, rep)]).toEqual([
      ["hidden", "changed"], ["block/inner", "changed"], ["block/extra", "added"], ["block", "inside"]]);
    expect(diffMarks({ error: "Nothing to diff yet" }).size).toBe(0);
    expect(diffMarks({}).size).toBe(0);
  });
});

describe("diffSummary", () => {
  it("says the counts, the trainable delta and |Δ|", () => {
    expect(diffSummary(DIFF)).toBe(
      "2 changed, 1 added, 0 removed · trainable 130 → 64 (−66) · |Δ| max 0.01235, mean 0.0021 on 300 samples");
    expect(diffSummary({ ...DIFF, output: null })).toMatch(/no sample data: outputs not compared$/);
    expect(diffSummary({ ...DIFF, output: null, output_error: "the outputs differ" })).toMatch(/outputs not compared: the outputs differ$/);
    expect(diffSummary({ error: "Nothing to diff yet: apply a patch first." })).toBe("Nothing to diff yet: apply a patch first.");
    expect(diffSummary({})).toBe("");
  });
  it("adds the risk of risk models", () => {
    const risky = { ...DIFF, output: { ...DIFF.output!, risk_after: 0.67 } };
    expect(diffSummary(risky)).toMatch(/, risk — → 0\.67$/);
  });
});

describe("diffNote, diffPositions, formatDelta", () => {
  it("describes one node's change and its trainable parameters", () => {
    expect(diffNote(DIFF, "hidden")).toBe("diff: changed (class, patch, weights) · trainable 40 → 24");
    expect(diffNote(DIFF, "head")).toBe("diff: trainable 18 → 0 (frozen)");
    expect(diffNote(DIFF, "block/extra")).toBe("diff: added · trainable — → 12");
    expect(diffNote(DIFF, "x")).toBeUndefined();
  });
  it("lists position 0 (original) and one per history entry", () => {
    const history = { entries: [{ kind: "lora", params: {}, targets: ["hidden"], label: "LoRA(rank=2) on hidden" }], index: 1 };
    expect(diffPositions(history)).toEqual([{ value: 0, label: "0. original" }, { value: 1, label: "1. LoRA(rank=2) on hidden" }]);
  });
  it("formats deltas", () => {
    expect([formatDelta(0), formatDelta(1.23456), formatDelta(1e-7), formatDelta(null)]).toEqual(["0", "1.235", "1.00e-7", "—"]);
  });
});
