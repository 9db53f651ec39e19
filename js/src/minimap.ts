// The minimap: the whole layout in a corner of the stage, with the part on screen outlined;
// shown only while the graph is larger than the view. A press or drag on it centres the
// view there. Its boxes are drawn once per layout, in idle time (so that an expand's frame
// does not wait for them); a frame only moves the outline (a positioned element, no drawing).
import type { Layout } from "./layout";
import type { Viewport } from "./viewport";

/** Largest size of the minimap, CSS pixels. */
const MAX_W = 180;
const MAX_H = 120;
const MIN_SIDE = 24;

export class Minimap {
  readonly el: HTMLElement;
  private canvas: HTMLCanvasElement;
  private frame: HTMLElement;
  private layout: Layout | null = null;
  private colorOf: (id: string) => string = () => "#999";
  private scale = 1;
  private idle = 0;
  private drawn: Layout | null = null;
  private lastVp: Viewport | null = null;

  /** `centreAt(x, y)`: centre the view on world point (x, y). */
  constructor(private readonly centreAt: (x: number, y: number) => void) {
    this.el = document.createElement("div");
    this.el.dataset.role = "minimap";
    this.el.className = "rw-minimap";
    this.el.hidden = true;
    this.el.setAttribute("aria-hidden", "true");
    this.canvas = document.createElement("canvas");
    this.frame = document.createElement("div");
    this.frame.className = "rw-minimap-view";
    this.el.append(this.canvas, this.frame);
    const go = (ev: PointerEvent) => {
      if (ev.type === "pointermove" && !(ev.buttons & 1)) return;
      const r = this.el.getBoundingClientRect();
      this.centreAt((ev.clientX - r.left) / this.scale, (ev.clientY - r.top) / this.scale);
      ev.preventDefault();
      ev.stopPropagation();
    };
    this.el.addEventListener("pointerdown", (ev) => {
      this.el.setPointerCapture?.(ev.pointerId);
      go(ev);
    });
    this.el.addEventListener("pointermove", go);
  }

  /** A new layout (or new colours): its boxes are drawn again when the page is idle, if
   *  the minimap shows at all (the next frame tells). */
  setLayout(layout: Layout, colorOf: (id: string) => string): void {
    this.layout = layout;
    this.colorOf = colorOf;
    this.drawn = null;
  }

  private schedule(): void {
    if (this.idle) return;
    const run = () => {
      this.idle = 0;
      this.drawBoxes();
      if (this.lastVp) this.update(this.lastVp);
    };
    const ric = (globalThis as { requestIdleCallback?: (f: () => void, o: { timeout: number }) => number }).requestIdleCallback;
    this.idle = ric ? ric(run, { timeout: 300 }) : (setTimeout(run, 50) as unknown as number);
  }

  private drawBoxes(): void {
    const layout = this.layout;
    if (!layout) return;
    const t0 = performance.now();
    const s = Math.min(MAX_W / Math.max(1, layout.width), MAX_H / Math.max(1, layout.height));
    this.scale = s;
    const w = Math.max(MIN_SIDE, Math.ceil(layout.width * s));
    const h = Math.max(MIN_SIDE, Math.ceil(layout.height * s));
    const dpr = globalThis.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr * s, 0, 0, dpr * s, 0, 0);
    // One path per colour: thousands of boxes in a few fills; a box smaller than a pixel
    // is drawn only when its pixel is still empty (most of a 10k-layer graph's boxes).
    const byColor = new Map<string, number[]>();
    const seen = new Uint8Array(w * h);
    for (const b of layout.boxes) {
      if (b.container) continue;
      if (b.w * s <= 1 && b.h * s <= 1) {
        const cell = Math.min(h - 1, Math.floor(b.y * s)) * w + Math.min(w - 1, Math.floor(b.x * s));
        if (seen[cell]) continue;
        seen[cell] = 1;
      }
      const c = this.colorOf(b.id);
      let list = byColor.get(c);
      if (!list) byColor.set(c, (list = []));
      list.push(b.x, b.y, Math.max(b.w, 1 / s), Math.max(b.h, 1 / s));
    }
    for (const [color, r] of byColor) {
      ctx.beginPath();
      for (let i = 0; i < r.length; i += 4) ctx.rect(r[i], r[i + 1], r[i + 2], r[i + 3]);
      ctx.fillStyle = color;
      ctx.fill();
    }
    this.drawn = layout;
    delete this.el.dataset.view; // the next frame places the outline
    this.el.dataset.boxes = String(layout.boxes.length);
    this.el.dataset.drawMs = (performance.now() - t0).toFixed(1);
  }

  /** Each frame: hidden when the whole graph is on screen, else the view's outline moved. */
  update(vp: Viewport): void {
    this.lastVp = vp;
    const layout = this.layout;
    const [x0, y0] = vp.toWorld(0, 0);
    const [x1, y1] = vp.toWorld(vp.cssW, vp.cssH);
    const fits = !layout || (x0 <= 0 && y0 <= 0 && x1 >= layout.width && y1 >= layout.height);
    // A new layout's boxes come in idle time: till then the old drawing stays (no flicker),
    // but a minimap never drawn stays hidden.
    this.el.hidden = fits || this.drawn === null && !this.el.dataset.boxes;
    if (fits) return;
    if (this.drawn !== layout) {
      this.schedule();
      return;
    }
    const view = [x0, y0, x1, y1].map((v) => v.toFixed(0)).join(",");
    if (view === this.el.dataset.view) return;
    this.el.dataset.view = view;
    // The outline, clipped to the minimap (the view may reach past the graph).
    const s = this.scale;
    const W = this.canvas.clientWidth || MAX_W, H = this.canvas.clientHeight || MAX_H;
    const left = Math.max(0, x0 * s), top = Math.max(0, y0 * s);
    Object.assign(this.frame.style, {
      left: `${left}px`, top: `${top}px`,
      width: `${Math.max(2, Math.min(W, x1 * s) - left)}px`, height: `${Math.max(2, Math.min(H, y1 * s) - top)}px`,
    });
  }

  dispose(): void {
    const cic = (globalThis as { cancelIdleCallback?: (h: number) => void }).cancelIdleCallback;
    if (this.idle) (cic ?? clearTimeout)(this.idle as never);
    this.el.remove();
  }
}
