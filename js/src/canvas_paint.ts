// Paints a scene on the graph canvas: expanded groups as containers, then edges, then nodes
// with their patch badges, risk bars and overlay marks, and the rubber band on top; only what
// intersects the viewport. Holds no view state: the canvas view passes the transform, the
// hovered node and the band with every frame.
import type { PatchMark } from "./types";
import type { Box } from "./layout";
import { FONT_NAME, FONT_SMALL, HEADER_H, PAD_X, TOGGLE_W } from "./layout";
import type { Rect } from "./selection";
import type { Scene } from "./scene";
import type { Viewport } from "./viewport";
import type { NodeLabels } from "./node_labels";
import { toggleRect } from "./hit";
import { markLabel, nodePatches, patchColor, patchLabel } from "./patch_marks";
import { familyColor, familyFill, familyOf } from "./families";
import { isDark } from "./colors";

export const PREVIEW_COLOR = "#00acc1";
export const FIND_COLOR = "#ffc400";
export const DIFF_COLORS = { added: "#2e7d32", changed: "#f9a825", inside: "#f9a825" } as const;

export interface Theme {
  bg: string; node: string; group: string; fg: string; fg2: string;
  border: string; edge: string; brand: string; warn: string; font: string;
  /** A dark background (JupyterLab dark theme): brighter family colours, more of them. */
  dark: boolean;
}

/** The colours and font family from the CSS variables on `el` (JupyterLab themes set them). */
export function readTheme(el: HTMLElement): Theme {
  const cs = getComputedStyle(el);
  const v = (name: string, dflt: string) => cs.getPropertyValue(name).trim() || dflt;
  return {
    bg: v("--rw-bg", "#fff"), node: v("--rw-node", "#fafafa"), group: v("--rw-group", "#eeeeee"),
    fg: v("--rw-fg", "#000"), fg2: v("--rw-fg2", "#666"),
    border: v("--rw-border", "#bdbdbd"), edge: v("--rw-edge", "#9e9e9e"),
    brand: v("--rw-brand", "#1976d2"),
    warn: v("--rw-warn", "#f57c00"), font: v("--rw-font", "sans-serif"),
    dark: isDark(v("--rw-bg", "#fff")),
  };
}

/** The node under the pointer, and which part of it. */
export interface Hover { id: string; part: string }

export class ScenePainter {
  private themeNow!: Theme;
  /** Family -> fill in the current theme. */
  private fills = new Map<string, string>();
  /** The scene being painted (and read by `fillOf`). */
  private scene: Scene | null = null;
  /** Bounding box of each edge (x0, y0, x1, y1), to skip those out of view. */
  private edgeBounds: Float64Array = new Float64Array(0);
  /** The hovered node of the frame being painted. */
  private hover: Hover | null = null;

  constructor(private readonly ctx: CanvasRenderingContext2D, private readonly labels: NodeLabels) {}

  get theme(): Theme {
    return this.themeNow;
  }
  set theme(t: Theme) {
    this.themeNow = t;
    this.fills.clear();
  }

  /**
   * A node's fill: its value's colour while an overlay is shown (plain without a value),
   * else its family's colour blended into the background.
   */
  fillOf(id: string): string {
    const scene = this.scene;
    const n = scene?.node(id);
    const t = this.themeNow;
    if (!scene || !n) return t.node;
    if (scene.values) return scene.values.fill.get(id) ?? (n.kind === "group" ? t.group : t.node);
    const family = familyOf(n);
    let f = this.fills.get(family);
    if (f === undefined) this.fills.set(family, (f = familyFill(family, t.bg, t.dark)));
    return f;
  }

  /** Precomputes what depends on the layout only (edge bounds). */
  prepare(scene: Scene): void {
    this.scene = scene;
    const { edges } = scene.layout;
    this.edgeBounds = new Float64Array(edges.length * 4);
    edges.forEach((e, i) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (let j = 0; j < e.points.length; j += 2) {
        x0 = Math.min(x0, e.points[j]); x1 = Math.max(x1, e.points[j]);
        y0 = Math.min(y0, e.points[j + 1]); y1 = Math.max(y1, e.points[j + 1]);
      }
      this.edgeBounds.set([x0, y0, x1, y1], i * 4);
    });
  }

  /** One frame: the background, `scene` as seen through `vp`, and the band (screen pixels). */
  paint(scene: Scene | null, vp: Viewport, hover: Hover | null, band: Rect | null): void {
    const { ctx, theme: t } = this;
    this.hover = hover;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = t.bg;
    ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    if (scene) {
      ctx.setTransform(vp.dpr * vp.k, 0, 0, vp.dpr * vp.k, vp.dpr * vp.tx, vp.dpr * vp.ty);
      const [vx0, vy0] = vp.toWorld(0, 0);
      const [vx1, vy1] = vp.toWorld(vp.cssW, vp.cssH);
      const inView = (b: Box) => b.x + b.w >= vx0 && b.y + b.h >= vy0 && b.x <= vx1 && b.y <= vy1;
      const text = vp.k >= 0.35;
      for (const b of scene.layout.boxes) if (b.container && inView(b)) this.drawContainer(b, scene, text);
      this.drawEdges(scene, vp.k, vx0, vy0, vx1, vy1);
      for (const b of scene.layout.boxes) if (!b.container && inView(b)) this.drawNode(b, scene, text);
    }
    if (band) {
      const r = band;
      ctx.setTransform(vp.dpr, 0, 0, vp.dpr, 0, 0);
      ctx.fillStyle = t.brand;
      ctx.strokeStyle = t.brand;
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.globalAlpha = 0.1;
      ctx.fillRect(r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
      ctx.globalAlpha = 1;
      ctx.strokeRect(r.x0 + 0.5, r.y0 + 0.5, r.x1 - r.x0, r.y1 - r.y0);
      ctx.setLineDash([]);
    }
  }

  private font(spec: string): string {
    return this.labels.font(spec);
  }

  private roundRect(x: number, y: number, w: number, h: number, r: number): void {
    const ctx = this.ctx;
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  private drawContainer(b: Box, scene: Scene, text: boolean): void {
    const { ctx, theme: t } = this;
    const n = scene.node(b.id);
    const selected = scene.selection.has(b.id);
    this.roundRect(b.x, b.y, b.w, b.h, 8);
    ctx.globalAlpha = 0.55;
    ctx.fillStyle = b.depth % 2 ? t.bg : t.group;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.lineWidth = selected ? 2.5 : 1;
    ctx.strokeStyle = selected ? t.brand : t.border;
    ctx.stroke();
    this.drawOverlay(b, scene, 8);
    if (this.hover?.id === b.id || selected) {
      ctx.globalAlpha = selected ? 0.16 : 0.08;
      ctx.fillStyle = t.brand;
      ctx.fillRect(b.x + 1, b.y + 1, b.w - 2, HEADER_H - 1);
      ctx.globalAlpha = 1;
    }
    this.drawToggle(b, "−");
    if (n?.patch) this.drawMarks(b, scene, nodePatches(n));
    if (text) {
      ctx.fillStyle = t.fg;
      ctx.font = this.font(FONT_NAME);
      ctx.textBaseline = "middle";
      ctx.fillText(this.labels.get(b.id)?.name ?? b.id, b.x + PAD_X, b.y + HEADER_H / 2 + 1);
    }
  }

  private drawToggle(b: Box, glyph: string): void {
    const { ctx, theme: t } = this;
    const [x, y, w, h] = toggleRect(b);
    const hot = this.hover?.id === b.id && this.hover.part === "toggle";
    this.roundRect(x, y, w, h, 3);
    ctx.fillStyle = hot ? t.brand : t.bg;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = hot ? t.brand : t.border;
    ctx.stroke();
    ctx.strokeStyle = hot ? t.bg : t.fg;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x + 4, y + h / 2);
    ctx.lineTo(x + w - 4, y + h / 2);
    if (glyph === "+") {
      ctx.moveTo(x + w / 2, y + 4);
      ctx.lineTo(x + w / 2, y + h - 4);
    }
    ctx.stroke();
  }

  private drawBadges(b: Box, scene: Scene, kinds: Iterable<string>, inherited = false): void {
    const { ctx } = this;
    let right = b.x + b.w - (scene.node(b.id)?.kind === "group" ? TOGGLE_W + 2 : 6);
    ctx.font = this.font("600 9px sans-serif");
    ctx.textBaseline = "middle";
    for (const kind of kinds) {
      const label = inherited ? patchLabel(kind) + "…" : patchLabel(kind);
      const w = ctx.measureText(label).width + 8;
      const x = right - w;
      const y = b.y - 7;
      this.roundRect(x, y, w, 14, 7);
      ctx.fillStyle = patchColor(kind);
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.fillText(label, x + 4, y + 7.5);
      right = x - 3;
    }
  }

  /** One badge per patch, right to left in order; an inactive adapter's badge is faded. */
  private drawMarks(b: Box, scene: Scene, marks: PatchMark[]): void {
    const { ctx } = this;
    let right = b.x + b.w - (scene.node(b.id)?.kind === "group" ? TOGGLE_W + 2 : 6);
    ctx.font = this.font("600 9px sans-serif");
    ctx.textBaseline = "middle";
    for (const mark of marks) {
      const label = markLabel(mark, marks.length > 1);
      const w = ctx.measureText(label).width + 8;
      const x = right - w;
      const y = b.y - 7;
      ctx.globalAlpha = mark.active ? 1 : 0.4;
      this.roundRect(x, y, w, 14, 7);
      ctx.fillStyle = patchColor(mark.kind);
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.fillText(label, x + 4, y + 7.5);
      ctx.globalAlpha = 1;
      right = x - 3;
    }
  }

  private drawNode(b: Box, scene: Scene, text: boolean): void {
    const { ctx, theme: t } = this;
    const n = scene.node(b.id);
    const selected = scene.selection.has(b.id);
    const group = n?.kind === "group";
    const io = n?.kind === "input" || n?.kind === "output";
    const r = io ? b.h / 2 : 6;
    const fill = this.fillOf(b.id);
    if (group) {
      // A stacked look for collapsed groups.
      this.roundRect(b.x + 4, b.y + 4, b.w, b.h, r);
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.strokeStyle = t.border;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    this.roundRect(b.x, b.y, b.w, b.h, r);
    ctx.fillStyle = fill;
    ctx.fill();
    if (selected) {
      ctx.globalAlpha = 0.16;
      ctx.fillStyle = t.brand;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    if (n?.patch) {
      ctx.fillStyle = patchColor(n.patch.kind);
      ctx.fillRect(b.x, b.y + r, 4, b.h - 2 * r);
    } else if (n && !io && !scene.values) { // the family's full colour, as a stripe
      ctx.fillStyle = familyColor(familyOf(n), t.dark);
      ctx.fillRect(b.x, b.y + r, 4, b.h - 2 * r);
    }
    const hovered = this.hover?.id === b.id;
    ctx.lineWidth = selected ? 2.5 : hovered ? 1.5 : 1;
    ctx.strokeStyle = selected || hovered ? t.brand : n?.patch ? patchColor(n.patch.kind) : t.border;
    if (!selected && scene.holdsSelection.has(b.id)) {
      ctx.setLineDash([5, 3]);
      ctx.strokeStyle = t.brand;
      ctx.lineWidth = 2;
    }
    ctx.stroke();
    ctx.setLineDash([]);
    this.drawOverlay(b, scene, r);
    const risk = scene.risk.get(b.id);
    if (risk !== undefined && risk > 0) {
      ctx.fillStyle = t.warn;
      ctx.fillRect(b.x + 6, b.y + b.h - 4, Math.max(2, (b.w - 12) * Math.min(1, risk)), 2.5);
    }
    if (group) this.drawToggle(b, "+");
    if (n?.patch) this.drawMarks(b, scene, nodePatches(n));
    else if (group && scene.descendantPatches.has(b.id)) this.drawBadges(b, scene, scene.descendantPatches.get(b.id)!, true);
    if (!text) return;
    const l = this.labels.get(b.id);
    if (!l) return;
    const x = b.x + PAD_X;
    ctx.textBaseline = "middle";
    ctx.fillStyle = t.fg;
    ctx.font = this.font(FONT_NAME);
    ctx.fillText(l.name, x, b.y + 11);
    ctx.fillStyle = t.fg2;
    ctx.font = this.font(FONT_SMALL);
    ctx.fillText(l.cls, x, b.y + 25);
    ctx.fillText(l.shape, x, b.y + 38);
  }

  /** The preview's dashed outline (3px out), the diff's solid one (6px out) with its +/~ tag,
   *  and find's thick one (9px out; dotted on a group holding hits). */
  private drawOverlay(b: Box, scene: Scene, r: number): void {
    const o = scene.overlay?.get(b.id);
    if (!o) return;
    const ctx = this.ctx;
    if (o.find) {
      this.roundRect(b.x - 9, b.y - 9, b.w + 18, b.h + 18, r + 9);
      ctx.strokeStyle = FIND_COLOR;
      ctx.lineWidth = o.find === "hit" ? 4 : 2.5;
      ctx.setLineDash(o.find === "hit" ? [] : [3, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (o.diff) {
      const c = DIFF_COLORS[o.diff];
      this.roundRect(b.x - 6, b.y - 6, b.w + 12, b.h + 12, r + 6);
      ctx.strokeStyle = c;
      ctx.lineWidth = o.diff === "inside" ? 2 : 3;
      ctx.setLineDash(o.diff === "inside" ? [2, 3] : []);
      ctx.stroke();
      ctx.setLineDash([]);
      const tag = o.diff === "added" ? "+" : "~";
      this.roundRect(b.x - 10, b.y - 10, 14, 14, 7);
      ctx.fillStyle = c;
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.font = this.font("700 11px sans-serif");
      ctx.textBaseline = "middle";
      ctx.fillText(tag, b.x - 6, b.y - 2.5);
    }
    if (o.preview) {
      this.roundRect(b.x - 3, b.y - 3, b.w + 6, b.h + 6, r + 3);
      ctx.globalAlpha = o.preview === "match" ? 0.14 : 0.06;
      ctx.fillStyle = PREVIEW_COLOR;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = PREVIEW_COLOR;
      ctx.lineWidth = 2;
      ctx.setLineDash(o.preview === "match" ? [6, 3] : [2, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  private drawEdges(scene: Scene, k: number, vx0: number, vy0: number, vx1: number, vy1: number): void {
    const { ctx, theme: t } = this;
    const eb = this.edgeBounds;
    ctx.strokeStyle = t.edge;
    ctx.fillStyle = t.edge;
    const sel = scene.selection;
    const arrows: number[] = [];
    const hot: number[] = [];
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    scene.layout.edges.forEach((e, i) => {
      const p = e.points;
      if (p.length < 4) return;
      if (eb[i * 4 + 2] < vx0 || eb[i * 4 + 3] < vy0 || eb[i * 4] > vx1 || eb[i * 4 + 1] > vy1) return;
      if (sel.has(e.source) || sel.has(e.target)) hot.push(i);
      ctx.moveTo(p[0], p[1]);
      for (let j = 2; j < p.length; j += 2) ctx.lineTo(p[j], p[j + 1]);
      arrows.push(i);
    });
    ctx.stroke();
    if (hot.length) {
      ctx.strokeStyle = t.brand;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (const i of hot) {
        const p = scene.layout.edges[i].points;
        ctx.moveTo(p[0], p[1]);
        for (let j = 2; j < p.length; j += 2) ctx.lineTo(p[j], p[j + 1]);
      }
      ctx.stroke();
    }
    if (k < 0.3) return;
    ctx.beginPath();
    for (const i of arrows) {
      const p = scene.layout.edges[i].points;
      const n = p.length;
      const x1 = p[n - 2], y1 = p[n - 1];
      const a = Math.atan2(y1 - p[n - 3], x1 - p[n - 4]);
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - 7 * Math.cos(a - 0.4), y1 - 7 * Math.sin(a - 0.4));
      ctx.lineTo(x1 - 7 * Math.cos(a + 0.4), y1 - 7 * Math.sin(a + 0.4));
      ctx.closePath();
    }
    ctx.fillStyle = t.edge;
    ctx.fill();
  }
}
