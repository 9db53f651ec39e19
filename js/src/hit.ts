// Hit testing in world units: which box (and which part of it) lies under a point. Pure, so
// the tests run it without a canvas.
import type { Box } from "./layout";
import { HEADER_H, TOGGLE_W } from "./layout";

/** The +/- button of a group box, in world units: x, y, w, h. */
export function toggleRect(b: Box): [number, number, number, number] {
  return [b.x + b.w - TOGGLE_W + 2, b.y + 4, TOGGLE_W - 6, TOGGLE_W - 6];
}

export interface Hit { id: string; part: "body" | "toggle" }

/**
 * The innermost box under world point (x, y): children follow their container in `boxes`,
 * so the list is scanned backwards. A container's body (below its header) counts as
 * background; a group's +/- button (with `slop` world units around it) is the "toggle" part.
 */
export function hitTest(
  boxes: readonly Box[], x: number, y: number, slop: number, isGroup: (id: string) => boolean,
): Hit | null {
  for (let i = boxes.length - 1; i >= 0; i--) {
    const b = boxes[i];
    if (x < b.x || y < b.y || x > b.x + b.w || y > b.y + b.h) continue;
    if (b.container && y > b.y + HEADER_H) continue;
    if (isGroup(b.id)) {
      const [gx, gy, gw, gh] = toggleRect(b);
      if (x >= gx - slop && x <= gx + gw + slop && y >= gy - slop && y <= gy + gh + slop) {
        return { id: b.id, part: "toggle" };
      }
    }
    return { id: b.id, part: "body" };
  }
  return null;
}
