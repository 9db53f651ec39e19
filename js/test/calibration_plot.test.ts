import { describe, expect, it } from "vitest";
import { calibrationPoints, heldOutLines } from "../src/calibration_plot";

describe("calibration panel points", () => {
  it("plots observed against nominal coverage for regression", () => {
    const p = calibrationPoints({
      kind: "regression", nominal: [0.5, 0.9], observed: [0.4, 0.8], nll: 1.25,
      calibration_error: 0.1,
    })!;
    expect(p.x).toEqual([0.5, 0.9]);
    expect(p.y).toEqual([0.4, 0.8]);
    expect(p.text).toBe("calibration error 0.100 · NLL 1.250");
  });

  it("plots accuracy against confidence of the non-empty bins for classifiers", () => {
    const p = calibrationPoints({
      kind: "classification", ece: 0.05, nll: 0.3, brier: 0.12, accuracy: 0.9,
      bins: { edges: [0, 0.5, 1], count: [0, 10], confidence: [null, 0.95], accuracy: [null, 0.9] },
    })!;
    expect(p.x).toEqual([0.95]);
    expect(p.y).toEqual([0.9]);
    expect(p.text).toContain("ECE 0.050");
    expect(p.text).toContain("Brier 0.120");
  });

  it("says why there is nothing to plot, and hides without a payload", () => {
    expect(calibrationPoints({ kind: "none", reason: "no risk output" })).toEqual({
      kind: "none", x: [], y: [], text: "no risk output",
    });
    expect(calibrationPoints(null)).toBeNull();
  });

  it("adds the OOD AUROC when probes were given, and says when the model has no risk", () => {
    const base = { kind: "regression" as const, nominal: [0.5], observed: [0.5], nll: 1, calibration_error: 0 };
    expect(calibrationPoints({ ...base, ood_auroc: 0.875 })!.text).toBe(
      "calibration error 0.000 · NLL 1.000 · OOD AUROC 0.875");
    expect(calibrationPoints({ ...base, ood_auroc: null })!.text).toContain("OOD AUROC — (no risk output)");
  });

  it("says the held-out coverage, its trend, and warns when it parts from the training rows'", () => {
    const h = { nominal: 0.9, val_nll: [1.1, 2.5], val_coverage: [0.88, 0.62],
      train_coverage: [0.9, 0.86], gap: 0.24, parted: true };
    const lines = heldOutLines(h)!;
    expect(lines.text).toBe(
      "held-out 90% coverage 0.62 · training 0.86 · held-out NLL 2.500 · epoch 1: 0.88 → epoch 2: 0.62");
    expect(lines.warning).toContain("part (gap 0.24)");
    expect(lines.warning).toContain("rw.risk.recalibrate(model, x_val, y_val)");
    expect(heldOutLines({ ...h, parted: false })!.warning).toBe("");
    expect(heldOutLines({ ...h, val_coverage: [] })).toBeNull();
    expect(heldOutLines(null)).toBeNull();
  });
});
