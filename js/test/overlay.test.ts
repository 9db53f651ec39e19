import { describe, expect, it } from "vitest";
import { formatValue, makeScale, nodeValues, overlayChoices, PARAMS, RISK, TRAINABLE } from "../src/overlay";
import { indexGraph } from "../src/graph_model";
import { G } from "./graph_view_fixture";

const index = indexGraph(G);

describe("overlay values", () => {
  it("a group without its own value shows the sum of its children's, nested groups too", () => {
    const v = nodeValues(index, { values: { "block/attn/query": 2, "block/attn/value": 3, "block/ffn": 10, head: 1 }, agg: "sum" });
    expect(v.get("block/attn")).toBe(5);
    expect(v.get("block")).toBe(15);
    expect(v.get("head")).toBe(1);
    expect(v.has("x")).toBe(false); // no value, no children: none
  });

  it("the maximum for risk, and a group's own value wins", () => {
    const v = nodeValues(index, { values: { "block/attn/query": 0.2, "block/ffn": 0.7, "block/attn": 0.1 }, agg: "max" });
    expect(v.get("block/attn")).toBe(0.1);
    expect(v.get("block")).toBe(0.7);
    const skip = nodeValues(index, { values: { head: Number.NaN, nowhere: 3 }, agg: "sum" });
    expect([...skip]).toEqual([]);
  });

  it("offers parameters and trainable parameters always, risk when there is layer risk, then Python's", () => {
    const none = overlayChoices(index, undefined, undefined);
    expect([...none.keys()]).toEqual([PARAMS, TRAINABLE]);
    expect(none.get(PARAMS)!.values.block).toBe(30); // a group's own total
    expect(none.get(TRAINABLE)!.values["block/attn/query"]).toBe(4);
    const all = overlayChoices(index, { "block/ffn": 0.3 }, { "gradient norm": { values: { head: 1 }, agg: "sum" } });
    expect([...all.keys()]).toEqual([PARAMS, TRAINABLE, RISK, "gradient norm"]);
    expect(all.get(RISK)!.agg).toBe("max");
  });
});

describe("colour scale", () => {
  it("maps min to the low end and max to the high end, linear for a narrow range", () => {
    const s = makeScale([1, 2, 3], "#ffffff", false);
    expect([s.min, s.max, s.log]).toEqual([1, 3, false]);
    expect([s.at(1), s.at(2), s.at(3)]).toEqual([0, 0.5, 1]);
    expect(s.fill(1)).toBe(s.stops[0]);
    expect(s.fill(3)).toBe(s.stops[5]);
    expect(s.fill(1)).not.toBe(s.fill(3));
  });

  it("goes logarithmic across orders of magnitude (parameter counts), zeros at the low end", () => {
    const s = makeScale([0, 10, 1000, 100000], "#ffffff", false);
    expect(s.log).toBe(true);
    expect(s.at(0)).toBe(0);
    expect(s.at(1000)).toBeCloseTo(0.5);
    expect(s.at(100000)).toBe(1);
  });

  it("blends into the background, so a dark theme gets dark fills", () => {
    const light = makeScale([0, 1], "#ffffff", false);
    const dark = makeScale([0, 1], "#111111", true);
    const lum = (h: string) => parseInt(h.slice(1, 3), 16) + parseInt(h.slice(3, 5), 16) + parseInt(h.slice(5, 7), 16);
    expect(lum(light.stops[0])).toBeGreaterThan(lum(dark.stops[0]));
    expect(formatValue(126000)).toBe("126k");
    expect(formatValue(0.034123)).toBe("0.0341");
    expect(formatValue(0)).toBe("0");
  });
});

describe("OverlayMemo", () => {
  it("works the overlay out again only when what it depends on changes; the legend lists the whole graph's families", async () => {
    const { OverlayMemo } = await import("../src/scene_marks");
    const { visibleGraph } = await import("../src/graph_model");
    const memo = new OverlayMemo();
    const collapsed = visibleGraph(index, []);
    const a = memo.get(index, undefined, undefined, collapsed, "", "#ffffff", false);
    expect(a.shown).toBeNull();
    expect(a.families).toEqual(["dense", "attention"]); // inside the collapsed block too
    expect(memo.get(index, undefined, undefined, collapsed, "", "#ffffff", false)).toBe(a);
    const p = memo.get(index, undefined, undefined, collapsed, PARAMS, "#ffffff", false);
    expect(p.name).toBe(PARAMS);
    expect(p.shown!.values.value.get("block")).toBe(30);
    expect(p.families).toEqual([]);
    const unknown = memo.get(index, undefined, undefined, collapsed, "nowhere", "#ffffff", false);
    expect(unknown.name).toBe(""); // an overlay that is not offered: the families
  });
});
