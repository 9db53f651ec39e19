// Pure helpers for the risk view: decoding float32 buffers and shaping plot data.
import type { Buffer, Risk } from "./types";

/**
 * A little-endian float32 array from a DataView / ArrayBuffer / typed array (no copy if
 * aligned); also from the forms other transports give bytes: a base64 string (marimo once
 * sent nested bytes so, marimo-team/marimo#2366) or an array of byte values.
 */
export function decodeF32(buf: Buffer | null | undefined): Float32Array | null {
  if (buf === null || buf === undefined) return null;
  let bytes: Uint8Array;
  if (buf instanceof ArrayBuffer) bytes = new Uint8Array(buf);
  else if (ArrayBuffer.isView(buf)) {
    if (buf instanceof Float32Array) return buf;
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } else if (typeof buf === "string") {
    const decoded = fromBase64(buf);
    if (!decoded) return null;
    bytes = decoded;
  } else if (Array.isArray(buf) && buf.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    bytes = Uint8Array.from(buf);
  } else return null;
  const n = Math.floor(bytes.byteLength / 4);
  const littleEndian = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;
  if (littleEndian && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

function fromBase64(text: string): Uint8Array | null {
  let raw: string;
  try {
    raw = atob(text);
  } catch {
    return null; // not base64
  }
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

export interface RiskArrays {
  mode: "bands" | "per_sample";
  x: Float32Array;
  y: Float32Array;
  std: Float32Array;
  yTrue: Float32Array | null;
  n: number;
  /** Training rows drawn as dots (bands mode), x and y of the same length; null: none. */
  points: { x: Float32Array; y: Float32Array } | null;
}

/** Decoded arrays, all cut to the same length; null when the trait holds no data. */
export function riskArrays(risk: Risk | Record<string, never> | null | undefined): RiskArrays | null {
  const r = (risk ?? {}) as Risk;
  const y = decodeF32(r.y_pred);
  const std = decodeF32(r.std);
  if (!y || !std) return null;
  let x = decodeF32(r.x);
  const yTrue = decodeF32(r.y_true);
  let n = Math.min(y.length, std.length);
  if (x) n = Math.min(n, x.length);
  if (typeof r.n === "number" && r.n >= 0) n = Math.min(n, r.n);
  if (!x) x = Float32Array.from({ length: n }, (_, i) => i);
  const mode = r.mode === "per_sample" ? "per_sample" : "bands";
  return {
    mode,
    x: x.subarray(0, n), y: y.subarray(0, n), std: std.subarray(0, n),
    yTrue: yTrue ? yTrue.subarray(0, Math.min(n, yTrue.length)) : null, n,
    points: mode === "bands" ? decodePoints(r.points) : null,
  };
}

function decodePoints(p: Risk["points"]): RiskArrays["points"] {
  if (!p) return null;
  const x = decodeF32(p.x), y = decodeF32(p.y);
  if (!x || !y) return null;
  let m = Math.min(x.length, y.length);
  if (typeof p.n === "number" && p.n >= 0) m = Math.min(m, p.n);
  return m ? { x: x.subarray(0, m), y: y.subarray(0, m) } : null;
}

/** The numbers tests read from `data-summary`. */
export function riskSummary(a: RiskArrays, epoch: number | null | undefined) {
  let iMin = 0, iMax = 0;
  for (let i = 1; i < a.n; i++) {
    if (a.x[i] < a.x[iMin]) iMin = i;
    if (a.x[i] > a.x[iMax]) iMax = i;
  }
  const num = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : v);
  return {
    n: a.n,
    mode: a.mode,
    epoch: epoch ?? null,
    y_pred_first: num(a.y[0]),
    y_pred_last: num(a.y[a.n - 1]),
    std_at_min_x: num(a.n ? a.std[iMin] : undefined),
    std_at_max_x: num(a.n ? a.std[iMax] : undefined),
    points: a.points ? a.points.x.length : 0,
  };
}

/** Indices that sort `v` ascending. */
function order(v: Float32Array): Uint32Array {
  const idx = new Uint32Array(v.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => v[a] - v[b]);
}

function isSorted(v: Float32Array): boolean {
  for (let i = 1; i < v.length; i++) if (v[i] < v[i - 1]) return false;
  return true;
}

/**
 * Columns for the plot. bands: [x, y-2s, y+2s, y-s, y+s, y, y_true?] with x ascending;
 * with training points, one more column (see `withPoints`); per_sample: [rank, std sorted
 * ascending].
 */
export function plotColumns(a: RiskArrays): PlotColumn[] {
  if (a.mode === "per_sample") {
    const s = Float64Array.from(a.std).sort();
    return [Float64Array.from({ length: a.n }, (_, i) => i), s];
  }
  const cols = bandColumns(a);
  return a.points ? withPoints(cols, a.points) : cols;
}

/** One plot column: numbers, or numbers with gaps (null) where a series has no value. */
export type PlotColumn = Float64Array | (number | null)[];

/**
 * The band columns and a last column of training points on one x axis (uPlot's series
 * share x): the union of the band's x and the points' x, ascending; every band column
 * interpolated linearly at a point's x (null outside the band's x range: a gap), the points
 * column null except at the points.
 */
export function withPoints(cols: Float64Array[], points: { x: Float32Array; y: Float32Array }): (number | null)[][] {
  const gx = cols[0], n = gx.length, m = points.x.length;
  const pOrder = order(points.x);
  const out: (number | null)[][] = Array.from({ length: cols.length + 1 }, () => []);
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (j >= m || (i < n && gx[i] <= points.x[pOrder[j]])) {
      for (let c = 0; c < cols.length; c++) out[c].push(cols[c][i]);
      out[cols.length].push(null);
      i++;
      continue;
    }
    const px = points.x[pOrder[j]];
    out[0].push(px);
    for (let c = 1; c < cols.length; c++) {  // between grid rows i-1 and i
      if (i === 0 || i === n) { out[c].push(null); continue; }
      const x0 = gx[i - 1], x1 = gx[i];
      const t = x1 === x0 ? 0 : (px - x0) / (x1 - x0);
      out[c].push(cols[c][i - 1] + t * (cols[c][i] - cols[c][i - 1]));
    }
    out[cols.length].push(points.y[pOrder[j]]);
    j++;
  }
  return out;
}

function bandColumns(a: RiskArrays): Float64Array[] {
  const idx = isSorted(a.x) ? null : order(a.x);
  const at = (v: Float32Array, i: number) => v[idx ? idx[i] : i];
  const cols = Array.from({ length: a.yTrue ? 7 : 6 }, () => new Float64Array(a.n));
  for (let i = 0; i < a.n; i++) {
    const y = at(a.y, i), s = at(a.std, i);
    cols[0][i] = at(a.x, i);
    cols[1][i] = y - 2 * s;
    cols[2][i] = y + 2 * s;
    cols[3][i] = y - s;
    cols[4][i] = y + s;
    cols[5][i] = y;
    if (a.yTrue) cols[6][i] = i < a.yTrue.length ? at(a.yTrue, i) : NaN;
  }
  return cols;
}

export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}
