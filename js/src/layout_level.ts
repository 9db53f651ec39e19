// One level of the hierarchical layout (layout_engine.ts) as a flat graph, the shape of its
// result whichever engine produced it (elk_level.ts, quick_level.ts), and the trim of a
// group's entry and exit nodes applied to both.

/** A flat graph of one level: child sizes and edges between child indices. */
export interface LevelGraph {
  sizes: Array<[number, number]>;
  edges: Array<[number, number]>;
}

/** A laid-out level: child positions (top-left), one polyline per edge, the level's size. */
export interface LevelResult {
  pos: Float64Array;
  routes: number[][];
  width: number;
  height: number;
  engine: "elk" | "quick";
}

/**
 * Pulls a group's entry node ("in", index `inAt`) down to just above the real children and
 * its exit node ("out") up to just below them, so that a group's inside is only `gap` taller
 * than its content at each end (ELK puts each of them in a layer of its own): every y above
 * the content moves to the top line, every y below it to the bottom line.
 */
export function trimBorders(res: LevelResult, sizes: Array<[number, number]>, inAt: number, outAt: number,
  gap = 8): LevelResult {
  if (inAt < 0 && outAt < 0) return res;
  let top = Infinity, bottom = -Infinity;
  sizes.forEach(([, h], i) => {
    if (i === inAt || i === outAt) return;
    top = Math.min(top, res.pos[2 * i + 1]);
    bottom = Math.max(bottom, res.pos[2 * i + 1] + h);
  });
  if (!Number.isFinite(top)) return res;
  const lo = inAt >= 0 ? Math.max(0, top - gap) : 0;
  const hi = outAt >= 0 ? bottom + gap : res.height;
  const y = (v: number) => Math.min(Math.max(v, lo), hi) - lo;
  const pos = Float64Array.from(res.pos);
  for (let i = 1; i < pos.length; i += 2) pos[i] = y(pos[i]);
  if (inAt >= 0) pos[2 * inAt + 1] = 0;
  if (outAt >= 0) pos[2 * outAt + 1] = hi - lo - sizes[outAt][1];
  const routes = res.routes.map((r) => r.map((v, j) => (j % 2 ? y(v) : v)));
  return { ...res, pos, routes, height: Math.min(res.height, hi) - lo };
}
