// The layout of levels too big for ELK: linear time, layered, top to bottom.
import { LAYER_SPACING, SPACING } from "./layout";
import type { LevelGraph, LevelResult } from "./layout_level";

/**
 * A linear-time layered layout for big levels (thousands of nodes, where ELK takes seconds):
 * longest-path layers from the sources, one barycenter pass to order each layer, layers
 * centred on one axis; an edge to the next layer is a straight line, a longer one goes round
 * the right side of the layers it spans.
 */
export function quickLevel(g: LevelGraph): LevelResult {
  const n = g.sizes.length;
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  const indeg = new Int32Array(n);
  for (const [a, b] of g.edges) {
    if (a === b) continue;
    succ[a].push(b); pred[b].push(a); indeg[b]++;
  }
  // Kahn's order, lowest index first among ready nodes (keeps model order for chains).
  const layer = new Int32Array(n);
  const done = new Uint8Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
  let head = 0, next = 0;
  const order: number[] = [];
  while (order.length < n) {
    if (head === queue.length) {
      // A cycle: take the first node not yet placed.
      while (done[next]) next++;
      queue.push(next);
    }
    const v = queue[head++];
    if (done[v]) continue;
    done[v] = 1;
    order.push(v);
    let l = 0;
    for (const p of pred[v]) if (done[p]) l = Math.max(l, layer[p] + 1);
    layer[v] = l;
    for (const s of succ[v]) if (--indeg[s] === 0) queue.push(s);
  }
  const nLayers = n ? Math.max(...layer) + 1 : 0;
  const layers: number[][] = Array.from({ length: nLayers }, () => []);
  for (const v of order) layers[layer[v]].push(v);
  // Order each layer by the mean slot of its predecessors.
  const slot = new Float64Array(n);
  for (const row of layers) {
    const key = new Map<number, number>();
    for (const v of row) {
      const ps = pred[v].filter((p) => layer[p] < layer[v]);
      key.set(v, ps.length ? ps.reduce((s, p) => s + slot[p], 0) / ps.length : v);
    }
    row.sort((a, b) => key.get(a)! - key.get(b)! || a - b);
    row.forEach((v, i) => { slot[v] = i; });
  }
  const pos = new Float64Array(2 * n);
  const layerTop = new Float64Array(nLayers);
  const layerBottom = new Float64Array(nLayers);
  const layerLeft = new Float64Array(nLayers);
  const layerRight = new Float64Array(nLayers);
  let y = 0;
  for (let l = 0; l < nLayers; l++) {
    const row = layers[l];
    let total = -SPACING, hMax = 0;
    for (const v of row) { total += g.sizes[v][0] + SPACING; hMax = Math.max(hMax, g.sizes[v][1]); }
    let x = -total / 2;
    layerLeft[l] = x;
    for (const v of row) {
      pos[2 * v] = x;
      pos[2 * v + 1] = y + (hMax - g.sizes[v][1]) / 2;
      x += g.sizes[v][0] + SPACING;
    }
    layerRight[l] = x - SPACING;
    layerTop[l] = y;
    layerBottom[l] = y + hMax;
    y += hMax + LAYER_SPACING;
  }
  const routes: number[][] = [];
  let minX = 0, maxX = 0;
  for (let l = 0; l < nLayers; l++) { minX = Math.min(minX, layerLeft[l]); maxX = Math.max(maxX, layerRight[l]); }
  // Long edges leaving one node fan out to the right, one lane each.
  const lanes = new Map<number, number>();
  for (const [a, b] of g.edges) {
    const sx = pos[2 * a] + g.sizes[a][0] / 2, sy = pos[2 * a + 1] + g.sizes[a][1];
    const tx = pos[2 * b] + g.sizes[b][0] / 2, ty = pos[2 * b + 1];
    const la = layer[a], lb = layer[b];
    if (lb === la + 1) {
      routes.push([sx, sy, tx, ty]);
      continue;
    }
    const lo = Math.min(la, lb), hi = Math.max(la, lb);
    let right = Math.max(pos[2 * a] + g.sizes[a][0], pos[2 * b] + g.sizes[b][0]);
    for (let l = lo + 1; l < hi; l++) right = Math.max(right, layerRight[l]);
    const lane = lanes.get(a) ?? 0;
    lanes.set(a, lane + 1);
    const xr = right + 14 + 8 * lane;
    maxX = Math.max(maxX, xr);
    const yOut = sy + LAYER_SPACING / 2, yIn = ty - LAYER_SPACING / 2;
    routes.push([sx, sy, sx, yOut, xr, yOut, xr, yIn, tx, yIn, tx, ty]);
  }
  for (let i = 0; i < n; i++) pos[2 * i] -= minX;
  for (const r of routes) for (let j = 0; j < r.length; j += 2) r[j] -= minX;
  return { pos, routes, width: maxX - minX, height: nLayers ? y - LAYER_SPACING : 0, engine: "quick" };
}
