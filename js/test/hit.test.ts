import { describe, expect, it } from "vitest";
import { hitTest, toggleRect } from "../src/hit";
import { HEADER_H } from "../src/layout";
import type { Box } from "../src/layout";
import { parseParam } from "../src/toolbar";

const box = (id: string, x: number, y: number, w: number, h: number, depth = 0, container = false): Box =>
  ({ id, x, y, w, h, depth, container });

describe("hitTest", () => {
  // An expanded group "g" holding a layer "g/a" and a collapsed group "g/h".
  const boxes = [
    box("g", 0, 0, 300, 200, 0, true),
    box("g/a", 20, 40, 100, 48, 1),
    box("g/h", 150, 40, 100, 48, 1),
    box("z", 0, 300, 100, 48),
  ];
  const isGroup = (id: string) => id === "g" || id === "g/h";

  it("finds the innermost box", () => {
    expect(hitTest(boxes, 50, 60, 0, isGroup)).toEqual({ id: "g/a", part: "body" });
    expect(hitTest(boxes, 10, 320, 0, isGroup)).toEqual({ id: "z", part: "body" });
  });

  it("treats a container's body as background and its header as the group", () => {
    expect(hitTest(boxes, 140, 150, 0, isGroup)).toBeNull();
    expect(hitTest(boxes, 100, HEADER_H / 2, 0, isGroup)).toEqual({ id: "g", part: "body" });
  });

  it("hits the +/- button of groups only", () => {
    const [x, y, w, h] = toggleRect(boxes[2]);
    expect(hitTest(boxes, x + w / 2, y + h / 2, 0, isGroup)).toEqual({ id: "g/h", part: "toggle" });
    const [cx, cy] = toggleRect(boxes[0]);
    expect(hitTest(boxes, cx + 1, cy + 1, 0, isGroup)).toEqual({ id: "g", part: "toggle" });
    const [ax, ay] = toggleRect(boxes[1]);
    expect(hitTest(boxes, ax + 1, ay + 1, 0, isGroup)).toEqual({ id: "g/a", part: "body" });
  });

  it("misses outside every box", () => {
    expect(hitTest(boxes, 500, 500, 0, isGroup)).toBeNull();
  });
});

describe("parseParam", () => {
  const rank = { name: "rank", type: "int", default: 8 };
  const alpha = { name: "alpha", type: "float", optional: true };
  it("parses numbers by type", () => {
    expect(parseParam(rank, "4")).toEqual({ value: 4 });
    expect(parseParam(alpha, "0.5")).toEqual({ value: 0.5 });
    expect(parseParam(rank, "4.5")).toEqual({ error: "`rank` must be an integer. Received: 4.5" });
    expect(parseParam(rank, "abc")).toEqual({ error: "`rank` must be a number. Received: abc" });
  });
  it("fills empty inputs with null (optional) or the default", () => {
    expect(parseParam(alpha, " ")).toEqual({ value: null });
    expect(parseParam(rank, "")).toEqual({ value: 8 });
    expect(parseParam({ name: "n", type: "int" }, "")).toEqual({ error: "`n` is required." });
  });
});
