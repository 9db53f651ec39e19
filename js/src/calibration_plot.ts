// The calibration panel beside the risk plot: a reliability diagram (regression: observed
// vs nominal coverage of the model's intervals; classification: accuracy vs confidence per
// bin) against the diagonal, and the scores as text; during a fit with validation rows, the
// held-out coverage against the training rows' and a warning when they part. Reads the
// `calibration` and `held_out` entries of the `risk` trait (docs/architecture.md, "Risk
// view"); it computes nothing itself.
import uPlot from "uplot";
import type { Calibration, HeldOut } from "./types";
import { fmt } from "./risk_data";

/**
 * The held-out lines of the panel (pure, for tests): the last epoch's held-out NLL and
 * coverage against the training rows' coverage, the trend since the first epoch, and, when
 * the two coverages part, the warning with the way out.
 */
export function heldOutLines(h: HeldOut | null | undefined): { text: string; warning: string } | null {
  if (!h || !h.val_coverage.length) return null;
  const last = h.val_coverage.length - 1;
  const pct = Math.round(h.nominal * 100);
  const parts = [`held-out ${pct}% coverage ${fmt(h.val_coverage[last], 2)}`];
  if (h.train_coverage.length) parts.push(`training ${fmt(h.train_coverage[h.train_coverage.length - 1], 2)}`);
  if (h.val_nll.length) parts.push(`held-out NLL ${fmt(h.val_nll[h.val_nll.length - 1])}`);
  if (last > 0) parts.push(`epoch 1: ${fmt(h.val_coverage[0], 2)} → epoch ${last + 1}: ${fmt(h.val_coverage[last], 2)}`);
  const warning = h.parted
    ? `Training and held-out coverage part (gap ${fmt(h.gap, 2)}): the intervals are too narrow on new data. ` +
      "Recalibrate on held-out rows: rw.risk.recalibrate(model, x_val, y_val)."
    : "";
  return { text: parts.join(" · "), warning };
}

/** The diagram's points and the text line, from the payload (pure, for tests). */
export function calibrationPoints(cal: Calibration | null | undefined): {
  kind: string; x: number[]; y: number[]; text: string;
} | null {
  if (!cal) return null;
  const points = basePoints(cal);
  if (cal.ood_auroc === undefined) return points;
  const ood = cal.ood_auroc === null ? "OOD AUROC — (no risk output)" : `OOD AUROC ${fmt(cal.ood_auroc)}`;
  return { ...points, text: `${points.text} · ${ood}` };
}

function basePoints(cal: Calibration): { kind: string; x: number[]; y: number[]; text: string } {
  if (cal.kind === "regression") {
    const text = [`calibration error ${fmt(cal.calibration_error)}`, `NLL ${fmt(cal.nll)}`];
    return { kind: cal.kind, x: [...cal.nominal], y: [...cal.observed], text: text.join(" · ") };
  }
  if (cal.kind === "classification") {
    const x: number[] = [], y: number[] = [];
    cal.bins.count.forEach((n, i) => {
      const conf = cal.bins.confidence[i], acc = cal.bins.accuracy[i];
      if (n > 0 && conf !== null && acc !== null) { x.push(conf); y.push(acc); }
    });
    const text = [`ECE ${fmt(cal.ece)}`, `NLL ${fmt(cal.nll)}`, `Brier ${fmt(cal.brier)}`,
      `accuracy ${fmt(cal.accuracy)}`];
    return { kind: cal.kind, x, y, text: text.join(" · ") };
  }
  return { kind: "none", x: [], y: [], text: cal.reason };
}

export class CalibrationPanel {
  readonly el: HTMLElement;
  private textEl: HTMLElement;
  private heldOutEl: HTMLElement;
  private warningEl: HTMLElement;
  private plotBox: HTMLElement;
  private plot: uPlot | null = null;
  private plotKind = "";

  constructor() {
    this.el = document.createElement("div");
    this.el.className = "rw-calibration";
    this.el.dataset.role = "calibration";
    this.textEl = document.createElement("div");
    this.textEl.className = "rw-muted";
    this.textEl.dataset.role = "calibration-scores";
    this.heldOutEl = document.createElement("div");
    this.heldOutEl.className = "rw-muted";
    this.heldOutEl.dataset.role = "held-out";
    this.warningEl = document.createElement("div");
    this.warningEl.className = "rw-risk-error";
    this.warningEl.dataset.role = "coverage-warning";
    this.plotBox = document.createElement("div");
    this.el.append(this.textEl, this.heldOutEl, this.warningEl, this.plotBox);
    this.el.hidden = true;
  }

  update(cal: Calibration | null | undefined, heldOut?: HeldOut | null): void {
    const p = calibrationPoints(cal);
    const h = heldOutLines(heldOut);
    this.el.hidden = p === null && h === null;
    this.heldOutEl.textContent = h?.text ?? "";
    this.heldOutEl.hidden = !h;
    this.warningEl.textContent = h?.warning ?? "";
    this.warningEl.hidden = !h?.warning;
    if (heldOut && h) {
      this.el.dataset.heldOut = JSON.stringify({ val_coverage: heldOut.val_coverage,
        train_coverage: heldOut.train_coverage, val_nll: heldOut.val_nll, parted: heldOut.parted });
    } else delete this.el.dataset.heldOut;
    if (!p) {
      this.textEl.textContent = "";
      delete this.el.dataset.summary;
      this.drop();
      return;
    }
    this.textEl.textContent = p.text;
    this.el.dataset.summary = JSON.stringify({ kind: p.kind, x: p.x, y: p.y });
    if (p.kind === "none") {
      this.drop();
      return;
    }
    // points in x order, and the diagonal as its own series on the same x values
    const order = p.x.map((_, i) => i).sort((a, b) => p.x[a] - p.x[b]);
    const xs = order.map((i) => p.x[i]);
    const data = [xs, xs, order.map((i) => p.y[i])] as unknown as uPlot.AlignedData;
    if (this.plot && this.plotKind === p.kind) {
      this.plot.setData(data);
      return;
    }
    this.drop();
    this.plotKind = p.kind;
    this.plot = new uPlot(this.options(p.kind), data, this.plotBox);
  }

  private options(kind: string): uPlot.Options {
    const cs = getComputedStyle(this.el);
    const v = (n: string, d: string) => cs.getPropertyValue(n).trim() || d;
    const fg = v("--rw-fg2", "#666"), grid = v("--rw-border2", "#e0e0e0"), brand = v("--rw-brand", "#1976d2");
    const axis = (label: string): uPlot.Axis => ({
      stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, label,
    });
    const regression = kind === "regression";
    return {
      width: 260, height: 220, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [axis(regression ? "nominal coverage" : "confidence"),
        axis(regression ? "observed coverage" : "accuracy")],
      series: [
        {},
        { label: "ideal", stroke: fg, width: 1, dash: [4, 4], points: { show: false } },
        { label: regression ? "observed" : "accuracy", stroke: brand, width: 2,
          points: { show: true, size: 5, fill: brand, stroke: brand } },
      ],
    };
  }

  private drop(): void {
    this.plot?.destroy();
    this.plot = null;
    this.plotKind = "";
  }

  dispose(): void {
    this.drop();
    this.el.remove();
  }
}
