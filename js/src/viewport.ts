// The view transform of the graph canvas: world (layout) units to CSS pixels, as a zoom `k`
// and a pan (tx, ty), with the canvas size it fits into. Pure arithmetic; the canvas view
// decides when to move it and redraws after.
import type { Box } from "./layout";

/** The first view zooms out no further than this (a bigger graph then scrolls). */
export const READABLE_ZOOM = 0.75;
/** ... and zooms a small graph in no further than this. */
export const FIRST_MAX_ZOOM = 1.25;
/** Margin kept around the graph when fitting, and above a group shown in place, CSS pixels. */
const MARGIN = 16;

export class Viewport {
  k = 1;
  tx = 0;
  ty = 0;
  /** Canvas size in CSS pixels, and device pixels per CSS pixel. */
  cssW = 0;
  cssH = 0;
  dpr = 1;

  toScreen(x: number, y: number): [number, number] {
    return [x * this.k + this.tx, y * this.k + this.ty];
  }
  toWorld(sx: number, sy: number): [number, number] {
    return [(sx - this.tx) / this.k, (sy - this.ty) / this.k];
  }

  /** Changes whenever anything that moves a box on screen changes. */
  key(): string {
    return `${this.k}/${this.tx}/${this.ty}/${this.cssW}/${this.cssH}`;
  }

  /**
   * Fits a drawing of `width` x `height` in view (at most 100%). `readable` (the first
   * view): a graph that fits at a readable zoom fills the view (up to 125%); one that does
   * not is shown at the smallest readable zoom (75%), so that as much of it shows as can be
   * read, centred or from the left, from the top, and scrolls.
   */
  fit(width: number, height: number, readable: boolean): void {
    const m = MARGIN;
    const fitW = (this.cssW - 2 * m) / Math.max(width, 1);
    const fitH = (this.cssH - 2 * m) / Math.max(height, 1);
    const all = Math.min(fitW, fitH);
    let k: number;
    if (!readable) k = Math.min(all, 1);
    else if (all >= READABLE_ZOOM) k = Math.min(all, FIRST_MAX_ZOOM);
    else k = READABLE_ZOOM;
    this.k = Math.max(0.02, k);
    this.tx = width * this.k <= this.cssW - 2 * m ? (this.cssW - width * this.k) / 2 : m;
    this.ty = height * this.k <= this.cssH - 2 * m ? (this.cssH - height * this.k) / 2 : m;
  }

  /** Pans so that world point (x, y) shows at screen point `screen`. */
  pin(x: number, y: number, screen: [number, number]): void {
    this.tx = screen[0] - x * this.k;
    this.ty = screen[1] - y * this.k;
  }

  /**
   * A group just expanded in place: scroll up so that its inside shows, as far as the view
   * allows without pushing the group's header off the top.
   */
  showInside(b: Box): void {
    const m = MARGIN;
    const top = b.y * this.k + this.ty;
    const overflow = top + b.h * this.k - (this.cssH - m);
    const dy = Math.min(overflow, top - m);
    if (dy > 0) this.ty -= dy;
  }

  /** Centres `b` when it is not wholly on screen; whether the view moved. */
  reveal(b: Box): boolean {
    const [x, y] = this.toScreen(b.x, b.y);
    if (x >= 0 && y >= 0 && x + b.w * this.k <= this.cssW && y + b.h * this.k <= this.cssH) return false;
    this.tx = this.cssW / 2 - (b.x + b.w / 2) * this.k;
    this.ty = this.cssH / 2 - (b.y + b.h / 2) * this.k;
    return true;
  }

  /** Centres `b` in the view, wherever it is. */
  centre(b: Box): void {
    this.tx = this.cssW / 2 - (b.x + b.w / 2) * this.k;
    this.ty = this.cssH / 2 - (b.y + b.h / 2) * this.k;
  }

  /** Centres world point (x, y) (the minimap's pointer). */
  centreAt(x: number, y: number): void {
    this.tx = this.cssW / 2 - x * this.k;
    this.ty = this.cssH / 2 - y * this.k;
  }

  panBy(dx: number, dy: number): void {
    this.tx += dx;
    this.ty += dy;
  }

  /** Zooms by `factor` (clamped to 2%..400%) about screen point (sx, sy). */
  zoomAt(sx: number, sy: number, factor: number): void {
    const k = Math.max(0.02, Math.min(4, this.k * factor));
    const [wx, wy] = this.toWorld(sx, sy);
    this.k = k;
    this.tx = sx - wx * k;
    this.ty = sy - wy * k;
  }
}
