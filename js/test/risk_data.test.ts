import { describe, expect, it } from "vitest";
import { decodeF32, plotColumns, riskArrays, riskSummary } from "../src/risk_data";

function f32dv(values: number[], offset = 0): DataView {
  const buf = new ArrayBuffer(values.length * 4 + offset);
  const dv = new DataView(buf, offset);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return dv;
}

describe("risk data", () => {
  it("decodes little-endian float32 DataViews, aligned or not", () => {
    expect([...decodeF32(f32dv([1, 2.5, -3]))!]).toEqual([1, 2.5, -3]);
    expect([...decodeF32(f32dv([1, 2.5, -3], 2))!]).toEqual([1, 2.5, -3]);
    expect(decodeF32(null)).toBeNull();
  });

  it("decodes the forms other transports give bytes: base64 text, byte values", () => {
    const dv = f32dv([1, 2.5, -3]);
    const bytes = [...new Uint8Array(dv.buffer)];
    const base64 = btoa(String.fromCharCode(...bytes));
    expect([...decodeF32(base64)!]).toEqual([1, 2.5, -3]);
    expect([...decodeF32(bytes)!]).toEqual([1, 2.5, -3]);
    expect(decodeF32("not base64!")).toBeNull();
    expect(decodeF32([1.5, 300])).toBeNull(); // not byte values
    const a = riskArrays({ mode: "bands", x: base64, y_pred: bytes, std: dv, n: 3 })!;
    expect(riskSummary(a, null)).toEqual({
      n: 3, mode: "bands", epoch: null, y_pred_first: 1, y_pred_last: -3,
      std_at_min_x: -3, std_at_max_x: 2.5, points: 0,
    });
  });

  it("builds bands sorted by x and a summary", () => {
    const a = riskArrays({
      mode: "bands", x: f32dv([2, 0, 1]), y_pred: f32dv([20, 0, 10]), std: f32dv([2, 0.5, 1]),
      y_true: f32dv([21, 1, 9]), n: 3, epoch: 4,
    })!;
    const cols = plotColumns(a);
    expect(cols).toHaveLength(7);
    expect([...cols[0]]).toEqual([0, 1, 2]);
    expect([...cols[5]]).toEqual([0, 10, 20]);
    expect([...cols[4]]).toEqual([0.5, 11, 22]);
    expect([...cols[1]]).toEqual([-1, 8, 16]);
    expect([...cols[6]]).toEqual([1, 9, 21]);
    expect(riskSummary(a, 4)).toEqual({
      n: 3, mode: "bands", epoch: 4, y_pred_first: 20, y_pred_last: 10, std_at_min_x: 0.5, std_at_max_x: 2,
      points: 0,
    });
  });

  it("sorts std for per-sample mode and returns null without data", () => {
    const a = riskArrays({ mode: "per_sample", x: f32dv([0, 0, 0]), y_pred: f32dv([1, 2, 3]), std: f32dv([3, 1, 2]), n: 3 })!;
    expect([...plotColumns(a)[1]]).toEqual([1, 2, 3]);
    expect(riskArrays({})).toBeNull();
  });

  it("handles 10k points", () => {
    const n = 10_000;
    const xs = Array.from({ length: n }, (_, i) => i / n);
    const a = riskArrays({ mode: "bands", x: f32dv(xs), y_pred: f32dv(xs), std: f32dv(xs.map(() => 0.1)), n })!;
    expect(plotColumns(a)[0]).toHaveLength(n);
  });

  it("draws the training points on the band's x axis, the band interpolated between grid rows", () => {
    const a = riskArrays({
      mode: "bands", x: f32dv([0, 1, 2]), y_pred: f32dv([0, 10, 20]), std: f32dv([1, 1, 3]), n: 3,
      points: { x: f32dv([1.5, -1, 0.5]), y: f32dv([7, 8, 9]), n: 3 },
    })!;
    const cols = plotColumns(a);
    expect(cols).toHaveLength(7);
    expect([...cols[0]]).toEqual([-1, 0, 0.5, 1, 1.5, 2]);
    expect([...cols[5]]).toEqual([null, 0, 5, 10, 15, 20]); // prediction, interpolated
    expect([...cols[2]]).toEqual([null, 2, 7, 12, 19, 26]); // +2σ, interpolated
    expect([...cols[6]]).toEqual([8, null, 9, null, 7, null]); // the points, by x
    expect(riskSummary(a, null).points).toBe(3);
    // per-sample views draw no points
    const b = riskArrays({ mode: "per_sample", y_pred: f32dv([1]), std: f32dv([1]), n: 1,
      points: { x: f32dv([1]), y: f32dv([1]), n: 1 } })!;
    expect(b.points).toBeNull();
  });
});
