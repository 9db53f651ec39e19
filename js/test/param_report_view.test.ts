import { describe, expect, it } from "vitest";
import { formatCount, nextActive, reportRows, reportSummary } from "../src/param_report_view";
import type { ParamReportState } from "../src/types";

// The `param_report_view` of engine/param_report.py's docstring example: two named LoRA
// adapters on `head` (rank 1 and 2) of a 4 -> 3 -> 2 MLP.
const REPORT: ParamReportState = {
  trainable: 15, total: 38, fraction: 15 / 38, error: null,
  adapters: [
    { path: "head", kind: "lora", name: "default", active: true, trainable: 5 },
    { path: "head", kind: "lora", name: "b", active: false, trainable: 10 },
  ],
  blocks: [{ name: "hidden", trainable: 0, total: 15 }, { name: "head", trainable: 15, total: 23 }],
};

describe("reportSummary", () => {
  it("is the first line Python prints", () => {
    expect(reportSummary(REPORT)).toBe("15 trainable of 38 parameters (39.47%)");
    expect(reportSummary({ trainable: 1234567, total: 2469134, fraction: 0.5, adapters: [], blocks: [] }))
      .toBe("1,234,567 trainable of 2,469,134 parameters (50.00%)");
    expect(reportSummary({})).toBe("");
    expect(reportSummary({ error: "TypeError: not built" })).toBe("TypeError: not built");
  });
});

describe("reportRows", () => {
  it("lists adapters, blocks and the total", () => {
    expect(reportRows(REPORT)).toEqual([
      { row: "head", cells: ["adapter", "kind", "name", "active", "trainable"] },
      { row: "adapter", cells: ["head", "lora", "default", "yes", "5"] },
      { row: "adapter", cells: ["head", "lora", "b", "no", "10"] },
      { row: "head", cells: ["block", "trainable", "total", "trainable %"] },
      { row: "block", cells: ["hidden", "0", "15", "0.00%"] },
      { row: "block", cells: ["head", "15", "23", "65.22%"] },
      { row: "total", cells: ["total", "15", "38", "39.47%"] },
    ]);
  });
  it("has no adapter section without adapters, unnamed patches show '-', nothing on error", () => {
    const plain = reportRows({ trainable: 0, total: 0, adapters: [{ path: "d", kind: "vote", name: null, active: true, trainable: 1200 }], blocks: [] });
    expect(plain[1]).toEqual({ row: "adapter", cells: ["d", "vote", "-", "yes", "1,200"] });
    expect(plain.at(-1)).toEqual({ row: "total", cells: ["total", "0", "0", "—"] });
    expect(reportRows({ trainable: 5, total: 5, adapters: [], blocks: [] }).map((r) => r.row)).toEqual(["head", "total"]);
    expect(reportRows({ error: "x" })).toEqual([]);
    expect(reportRows({})).toEqual([]);
    expect(formatCount(undefined)).toBe("—");
  });
});

describe("nextActive", () => {
  it("adds or removes one name from the active ones (names are model-wide)", () => {
    expect(nextActive(REPORT, "b", true)).toEqual(["default", "b"]);
    expect(nextActive(REPORT, "default", false)).toEqual([]);
    const two: ParamReportState = { ...REPORT, adapters: [
      { path: "hidden", kind: "lora", name: "b", active: true, trainable: 1 },
      { path: "head", kind: "svf", name: "default", active: true, trainable: 2 },
      { path: "head", kind: "lora", name: "b", active: true, trainable: 3 },
      { path: "out", kind: "vote", name: null, active: true, trainable: 4 },
    ] };
    expect(nextActive(two, "b", false)).toEqual(["default"]);
    expect(nextActive(two, "default", false)).toEqual(["b"]);
    expect(nextActive({}, "x", true)).toEqual(["x"]);
  });
});
