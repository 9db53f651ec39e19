import { describe, expect, it } from "vitest";
import { calibrationPoints } from "../src/calibration_plot";

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
});
