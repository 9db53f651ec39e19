import { describe, expect, it } from "vitest";
import { boxesInside, normRect } from "../src/selection";
import type { Box } from "../src/layout";

const box = (id: string, x: number, y: number, w = 10, h = 10, container = false): Box =>
  ({ id, x, y, w, h, depth: 0, container });

describe("rubber band", () => {
  it("normalises a rectangle dragged in any direction", () => {
    expect(normRect(10, 20, 0, 5)).toEqual({ x0: 0, y0: 5, x1: 10, y1: 20 });
  });

  it("selects boxes wholly inside, not ones that only overlap, and never containers", () => {
    const boxes = [
      box("in", 10, 10), box("edge", 0, 0, 100, 100, true), box("overlap", 45, 10),
      box("out", 100, 100), box("touching", 40, 40),
    ];
    expect(boxesInside(boxes, normRect(50, 50, 5, 5))).toEqual(["in", "touching"]);
  });

  it("selects nothing with an empty band", () => {
    expect(boxesInside([box("a", 0, 0)], normRect(3, 3, 3, 3))).toEqual([]);
  });
});
