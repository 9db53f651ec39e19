// The minimap: the whole layout in a corner of the stage, with the part on screen outlined;
// shown only while the graph is larger than the view. A press or drag on it centres the
// view there. Its boxes are drawn once per layout into a bitmap, in idle time (so that an
// expand's frame does not wait for them), and each frame only copies it and outlines the view.
import type { Layout } from "./layout";
import type { Viewport } from "./viewport";

/** Largest size of the minimap, CSS pixels. */
const MAX_W = 180;
const MAX_H = 120;
const MIN_SIDE = 24;

export class Minimap {
  readonly el: HTMLCanvasElement;
  private bitmap: HTMLCanvasElement;
  private layout: Layout | null = null;
  private colorOf: (id: string) => string = () => "#999";
  private scale = 1;
  private idle = 0;
  private drawn: Layout | null = null;
  private lastVp: Viewport | null = null;
  private frameColor = "#1976d2";

  /** `centreAt(x, y)`: centre the view on world point (x, y). */
  constructor(private readonly centreAt: (x: number, y: number) => void) {
    this.el = document.createElement("canvas");
    this.el.dataset.role = "minimap";
    this.el.className = "rw-minimap";
    this.el.hidden = true;
    this.el.setAttribute("aria-hidden", "true");
    this.bitmap = document.createElement("canvas");
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

  /** A new layout (or new colours): its boxes are drawn again when the page is idle. */
  setLayout(layout: Layout, colorOf: (id: string) => string, frameColor: string): void {
    this.layout = layout;
    this.colorOf = colorOf;
    this.frameColor = frameColor;
    this.drawn = null;
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
    const s = Math.min(MAX_W / Math.max(1, layout.width), MAX_H / Math.max(1, layout.height));
    this.scale = s;
    const w = Math.max(MIN_SIDE, Math.ceil(layout.width * s));
    const h = Math.max(MIN_SIDE, Math.ceil(layout.height * s));
    const dpr = globalThis.devicePixelRatio || 1;
    for (const c of [this.bitmap, this.el]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    this.el.style.width = `${w}px`;
    this.el.style.height = `${h}px`;
    const ctx = this.bitmap.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr * s, 0, 0, dpr * s, 0, 0);
    // One path per colour: thousands of boxes in a few fills.
    const byColor = new Map<string, number[]>();
    for (const b of layout.boxes) {
      if (b.container) continue;
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
    this.el.dataset.boxes = String(layout.boxes.length);
  }

  /** Each frame: hidden when the whole graph is on screen, else the boxes and the view's outline. */
  update(vp: Viewport): void {
    this.lastVp = vp;
    const layout = this.layout;
    const [x0, y0] = vp.toWorld(0, 0);
    const [x1, y1] = vp.toWorld(vp.cssW, vp.cssH);
    const fits = !layout || (x0 <= 0 && y0 <= 0 && x1 >= layout.width && y1 >= layout.height);
    this.el.hidden = fits;
    this.el.dataset.view = [x0, y0, x1, y1].map((v) => v.toFixed(0)).join(",");
    if (fits || this.drawn !== layout) return;
    const ctx = this.el.getContext("2d");
    if (!ctx) return;
    const dpr = globalThis.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.el.width, this.el.height);
    ctx.drawImage(this.bitmap, 0, 0);
    const s = this.scale * dpr;
    ctx.strokeStyle = this.frameColor;
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
  }

  dispose(): void {
    const cic = (globalThis as { cancelIdleCallback?: (h: number) => void }).cancelIdleCallback;
    if (this.idle) (cic ?? clearTimeout)(this.idle as never);
    this.el.remove();
  }
}
