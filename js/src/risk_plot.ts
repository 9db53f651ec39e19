// The live risk view (uPlot): prediction with ±1/±2 std bands, the true points and the
// training rows for 1-D inputs ("bands"), or the sorted per-sample std ("per_sample");
// epoch, loss and summary numbers as text. Updates the existing plot in place (setData) while the mode is unchanged.
import uPlot from "uplot";
import type { Risk } from "./types";
import { CalibrationPanel } from "./calibration_plot";
import { fmt, plotColumns, riskArrays, riskSummary } from "./risk_data";

export class RiskPlot {
  readonly el: HTMLElement;
  private plotBox: HTMLElement;
  private epochEl: HTMLElement;
  private summaryEl: HTMLElement;
  private errorEl: HTMLElement;
  private plot: uPlot | null = null;
  private plotKey = "";
  private width = 600;
  private calibration = new CalibrationPanel();

  constructor() {
    this.el = document.createElement("div");
    this.el.className = "rw-risk";
    this.el.dataset.role = "risk-plot";
    const head = document.createElement("div");
    head.className = "rw-risk-head";
    this.epochEl = document.createElement("span");
    this.epochEl.dataset.role = "epoch";
    this.summaryEl = document.createElement("span");
    this.summaryEl.dataset.role = "risk-summary";
    this.summaryEl.className = "rw-muted";
    this.errorEl = document.createElement("div");
    this.errorEl.dataset.role = "risk-error";
    this.errorEl.className = "rw-risk-error";
    head.append(this.epochEl, this.summaryEl);
    this.plotBox = document.createElement("div");
    this.plotBox.className = "rw-risk-plot";
    const row = document.createElement("div");
    row.className = "rw-risk-row";  // the calibration panel sits beside the plot
    row.append(this.plotBox, this.calibration.el);
    this.el.append(head, this.errorEl, row);
    this.el.hidden = true;
  }

  resize(width: number): void {
    this.width = Math.max(200, Math.floor(width));
    this.plot?.setSize({ width: this.plotWidth(), height: 220 });
  }

  /** The risk plot's width: what the calibration panel (when shown) leaves of the row. */
  private plotWidth(): number {
    return this.calibration.el.hidden ? this.width : Math.max(200, this.width - 280);
  }

  /** Drops the plot so the next update rebuilds it with the current theme colours. */
  retheme(): void {
    this.plot?.destroy();
    this.plot = null;
    this.plotKey = "";
  }

  update(risk: Risk | Record<string, never> | null | undefined): void {
    const r = (risk ?? {}) as Risk;
    const a = riskArrays(r);
    const hasAny = a !== null || !!r.error;
    this.el.hidden = !hasAny;
    this.errorEl.textContent = r.error ?? "";
    const loss = r.loss ?? [];
    const parts: string[] = [];
    if (r.epoch !== null && r.epoch !== undefined) {
      parts.push(r.epochs ? `epoch ${r.epoch}/${r.epochs}` : `epoch ${r.epoch}`);
    }
    if (loss.length) parts.push(`loss ${fmt(loss[loss.length - 1], 4)}`);
    this.epochEl.textContent = parts.join(" · ") || (a ? "before training" : "");
    this.epochEl.dataset.epoch = r.epoch === null || r.epoch === undefined ? "" : String(r.epoch);
    const panelWas = this.calibration.el.hidden;
    this.calibration.update(a ? r.calibration : null, a ? r.held_out : null);
    if (panelWas !== this.calibration.el.hidden) this.plot?.setSize({ width: this.plotWidth(), height: 220 });
    const s = r.summary ?? {};
    const sum: string[] = [];
    if (s.mean_risk !== undefined) sum.push(`mean risk ${fmt(s.mean_risk)}`);
    if (s.nll !== undefined && s.nll !== null) sum.push(`NLL ${fmt(s.nll)}`);
    if (s.calibration_error !== undefined && s.calibration_error !== null) sum.push(`calibration error ${fmt(s.calibration_error)}`);
    if (a) sum.push(`n = ${a.n}`);
    this.summaryEl.textContent = sum.join(" · ");
    if (!a) {
      delete this.el.dataset.summary;
      this.plot?.destroy();
      this.plot = null;
      this.plotKey = "";
      return;
    }
    this.el.dataset.summary = JSON.stringify(riskSummary(a, r.epoch));
    this.el.dataset.mode = a.mode;
    const cols = plotColumns(a);
    const extra = { truth: a.mode === "bands" && !!a.yTrue, points: !!a.points };
    const key = `${a.mode}/${extra.truth}/${extra.points}`;
    if (this.plot && key === this.plotKey) {
      this.plot.setData(cols as unknown as uPlot.AlignedData);
      return;
    }
    this.plot?.destroy();
    this.plotKey = key;
    this.plot = new uPlot(this.options(a.mode, extra), cols as unknown as uPlot.AlignedData, this.plotBox);
  }

  private options(mode: "bands" | "per_sample", extra: { truth: boolean; points: boolean }): uPlot.Options {
    const cs = getComputedStyle(this.el);
    const v = (n: string, d: string) => cs.getPropertyValue(n).trim() || d;
    const fg = v("--rw-fg2", "#666"), grid = v("--rw-border2", "#e0e0e0"), brand = v("--rw-brand", "#1976d2");
    const pointsColor = v("--rw-fg", "#000");
    const axes: uPlot.Axis[] = [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        label: mode === "bands" ? "x" : "samples, by std" },
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        label: mode === "bands" ? "y" : "std" },
    ];
    const base = { width: this.plotWidth(), height: 220, axes, legend: { show: true }, cursor: { drag: { x: true, y: false } } };
    if (mode === "per_sample") {
      return { ...base, scales: { x: { time: false } },
        series: [{ label: "rank" }, { label: "std", stroke: brand, width: 1.5, points: { show: false } }] };
    }
    const edge = { stroke: "transparent", width: 0, points: { show: false } };
    const series: uPlot.Series[] = [
      { label: "x" },
      { label: "−2σ", ...edge }, { label: "+2σ", ...edge },
      { label: "−1σ", ...edge }, { label: "+1σ", ...edge },
      { label: "prediction", stroke: brand, width: 2, points: { show: false } },
    ];
    const dots = (label: string, color: string, size: number): uPlot.Series => ({
      label, stroke: color, width: 0, paths: () => null, spanGaps: false,
      points: { show: true, size, width: 0, fill: color, stroke: color } });
    if (extra.truth) series.push(dots("y", pointsColor, 3));
    // the training rows: where the model has seen data (the band should be narrow there)
    if (extra.points) series.push(dots("training data", withAlpha(pointsColor, 0.45), 3));
    return { ...base, scales: { x: { time: false } }, series,
      bands: [
        { series: [2, 1], fill: withAlpha(brand, 0.12) },
        { series: [4, 3], fill: withAlpha(brand, 0.22) },
      ] };
  }

  dispose(): void {
    this.plot?.destroy();
    this.plot = null;
    this.calibration.dispose();
    this.el.remove();
  }
}

/** `color` with an alpha, for hex colours; other syntaxes via color-mix. */
function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (!m) return `color-mix(in srgb, ${color} ${Math.round(alpha * 100)}%, transparent)`;
  let hex = m[1];
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join("");
  const n = parseInt(hex, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
