import { describe, expect, it } from "vitest";
import { neighbour } from "../src/navigate";
import type { Box } from "../src/layout";

const box = (id: string, x: number, y: number, container = false, w = 100, h = 40): Box => ({ id, x, y, w, h, depth: 0, container });
//        x
//      /   \
//     a     b      (a left, b right, one row)
//      \   /
//       out
const boxes = [box("x", 100, 0), box("a", 0, 100), box("b", 200, 100), box("out", 100, 200), box("far", 400, 300)];
const edges = [{ source: "x", target: "a" }, { source: "x", target: "b" }, { source: "a", target: "out" }, { source: "b", target: "out" }];

describe("neighbour", () => {
  it("down and up follow the edges, the nearest in x first", () => {
    expect(neighbour(boxes, edges, "x", "down")).toBe("a"); // a and b tie in x: the first wins
    expect(neighbour(boxes, edges, "b", "down")).toBe("out");
    expect(neighbour(boxes, edges, "out", "up")).toBe("a");
    expect(neighbour(boxes, edges, "a", "up")).toBe("x");
  });

  it("left and right go along the row; without an edge, the nearest box that way", () => {
    expect(neighbour(boxes, edges, "a", "right")).toBe("b");
    expect(neighbour(boxes, edges, "b", "left")).toBe("a");
    expect(neighbour(boxes, edges, "a", "left")).toBeNull();
    expect(neighbour(boxes, edges, "out", "down")).toBe("far"); // no edge out: geometry
    expect(neighbour(boxes, edges, "x", "up")).toBeNull();
    expect(neighbour(boxes, edges, "nowhere", "up")).toBeNull();
  });

  it("down from an expanded group's header goes inside it", () => {
    const inside = [box("g", 0, 0, true, 300, 200), box("g/a", 20, 40), box("after", 0, 260)];
    expect(neighbour(inside, [], "g", "down")).toBe("g/a");
  });
});
