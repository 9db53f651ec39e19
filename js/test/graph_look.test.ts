import { describe, expect, it } from "vitest";
import { familiesPresent, familyFill, familyOf, FAMILY_COLORS } from "../src/families";
import { isDark, mix, parseColor } from "../src/colors";
import { approxMeasure, classLine, FONT_SMALL, MAX_W, nodeSize, PAD_X, TOGGLE_W } from "../src/layout";
import { Viewport } from "../src/viewport";
import { G, node } from "./graph_view_fixture";

describe("families and colours", () => {
  it("reads a node's family, with fallbacks for graphs from before the field", () => {
    expect(familyOf(G.nodes[3])).toBe("dense");
    expect(familyOf(node("g", "group", null))).toBe("group");
    expect(familyOf(node("i", "input", null))).toBe("io");
    expect(familyOf(node("l", "layer", null, { family: "nonsense" }))).toBe("other");
    expect(familiesPresent(G.nodes)).toEqual(["dense", "attention"]); // group and io are not listed
  });

  it("fills blend the family colour into either theme's background", () => {
    expect(parseColor("#abc")).toEqual([170, 187, 204]);
    expect(parseColor("rgba(255, 255, 255, 0.87)")).toEqual([255, 255, 255]);
    expect(mix("#000000", "#ffffff", 0.5)).toBe("#808080");
    expect(isDark("#111111")).toBe(true);
    expect(isDark("#ffffff")).toBe(false);
    const light = familyFill("dense", "#ffffff", false);
    const dark = familyFill("dense", "#111111", true);
    expect(light).not.toBe(dark);
    expect(isDark(light)).toBe(false); // black text stays readable
    expect(isDark(dark)).toBe(true); // white text stays readable
    const fills = new Set(Object.keys(FAMILY_COLORS).map((f) => familyFill(f, "#ffffff", false)));
    expect(fills.size).toBe(Object.keys(FAMILY_COLORS).length); // one fill per family
  });
});

describe("labels are not cut", () => {
  it("a box is as wide as its class line, however long (a group's includes its parameter count)", () => {
    const long = node("b", "group", null, { class_name: "TransformerDecoderWithCrossAttentionBlock", params: 123456 });
    expect(classLine(long)).toBe("TransformerDecoderWithCrossAttentionBlock · 123.5k params");
    const w = nodeSize(long, approxMeasure).width;
    expect(w).toBeGreaterThan(MAX_W);
    expect(w).toBeGreaterThanOrEqual(approxMeasure(classLine(long), FONT_SMALL) + 2 * PAD_X + TOGGLE_W);
    const longName = node("a_very_long_layer_name_that_goes_on_and_on_and_on_forever", "layer", null);
    expect(nodeSize(longName, approxMeasure).width).toBe(MAX_W); // a name gives way (ellipsis)
  });
});

describe("the first view", () => {
  const vp = () => Object.assign(new Viewport(), { cssW: 1000, cssH: 460 });

  it("a tall narrow graph is shown readable from the top, not shrunk to fit", () => {
    const v = vp();
    v.fit(200, 6000, true);
    expect(v.k).toBe(0.75); // the smallest readable zoom: as much of it as can be read
    expect(v.ty).toBeGreaterThan(0); // starts at the top
    const all = vp();
    all.fit(200, 6000, false); // `f`: everything, however small
    expect(all.k).toBeLessThan(0.1);
  });

  it("a graph that fits readably fills the view, up to 125%; a wide one scrolls at 75%", () => {
    const small = vp();
    small.fit(300, 200, true);
    expect(small.k).toBe(1.25);
    const fits = vp();
    fits.fit(1000, 500, true);
    expect(fits.k).toBeCloseTo((460 - 32) / 500);
    const wide = vp();
    wide.fit(5000, 300, true);
    expect(wide.k).toBe(0.75);
  });
});
