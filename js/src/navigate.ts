// Keyboard navigation (pure): the node an arrow key moves the selection to. Down / Up follow
// the drawn edges to a successor / predecessor (the one nearest in x when there are several);
// without such an edge, and for Left / Right, the nearest box in that direction on screen.
import type { Box } from "./layout";

export type Direction = "up" | "down" | "left" | "right";

export const ARROWS: Record<string, Direction> = {
  ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right",
};

const cx = (b: Box) => b.x + b.w / 2;
const cy = (b: Box) => b.y + b.h / 2;

/** The box id the selection moves to from `current`, or null when there is none that way. */
export function neighbour(boxes: readonly Box[], edges: readonly { source: string; target: string }[],
  current: string, dir: Direction): string | null {
  const byId = new Map(boxes.map((b) => [b.id, b]));
  const cur = byId.get(current);
  if (!cur) return null;
  if (dir === "up" || dir === "down") {
    const ends: Box[] = [];
    for (const e of edges) {
      const other = dir === "down" ? (e.source === current ? e.target : null) : (e.target === current ? e.source : null);
      const b = other === null ? undefined : byId.get(other);
      if (b) ends.push(b);
    }
    if (ends.length) {
      ends.sort((a, b) => Math.abs(cx(a) - cx(cur)) - Math.abs(cx(b) - cx(cur)) || a.y - b.y);
      return ends[0].id;
    }
  }
  // On screen: the nearest box that way, straight ahead counting more than sideways.
  let best: Box | null = null;
  let bestScore = Infinity;
  for (const b of boxes) {
    if (b.id === current || (b.container && (dir === "left" || dir === "right"))) continue;
    const dx = cx(b) - cx(cur);
    const dy = cy(b) - cy(cur);
    let ahead: number, side: number;
    if (dir === "down") { ahead = b.y - cur.y; side = dx; }
    else if (dir === "up") { ahead = cur.y - b.y; side = dx; }
    else if (dir === "right") { ahead = dx; side = dy; }
    else { ahead = -dx; side = dy; }
    if (ahead <= 1) continue;
    const score = ahead + 3 * Math.abs(side);
    if (score < bestScore) { bestScore = score; best = b; }
  }
  return best?.id ?? null;
}
