// Draws the laid-out graph on a <canvas>: containers (expanded groups), edges, then nodes;
// only what intersects the viewport. Owns the view transform (pan/zoom), hit testing and the
// hidden DOM mirror (`data-role="node-index"`) that tests and assistive tech read.
import type { GraphNode, PatchMark } from "./types";
import type { Box, Layout } from "./layout";
import { FONT_NAME, FONT_SMALL, HEADER_H, PAD_X, TOGGLE_W } from "./layout";
import { formatCount, formatShape } from "./graph_model";
import type { PointerTarget, Rect } from "./selection";
import { boxesInside } from "./selection";

/** What the view needs to know about each visible node besides its box. */
export interface Scene {
  layout: Layout;
  node(id: string): GraphNode | undefined;
  selection: ReadonlySet<string>;
  /** Collapsed group id -> patch kinds on its descendants. */
  descendantPatches: ReadonlyMap<string, ReadonlySet<string>>;
  /** Collapsed group ids that hold a selected descendant. */
  holdsSelection: ReadonlySet<string>;
  /** Per-layer risk share in [0, 1] (from `risk.layer_risk`), for a bar under the node. */
  risk: ReadonlyMap<string, number>;
  /**
   * A quick layout drawn before the first real one: painted, but not listed in the node
   * mirror, whose rows always describe the layout that stays (tests click on them).
   */
  provisional?: boolean;
  /** Marks drawn over nodes: the target preview and the patch diff (target_preview.ts, diff_view.ts). */
  overlay?: ReadonlyMap<string, Overlay>;
}

/** A node's overlay: matched by the typed target ("inside": a collapsed group holding matches),
 *  and its diff mark, with a line for the tooltip. */
export interface Overlay {
  preview?: "match" | "inside";
  diff?: "added" | "changed" | "inside";
  note?: string;
}

export const PREVIEW_COLOR = "#00acc1";
export const DIFF_COLORS = { added: "#2e7d32", changed: "#f9a825", inside: "#f9a825" } as const;

/**
 * Above this many rows, the mirror's rectangles follow pans and zooms after a short pause,
 * and a new scene's rows are written just after its first frame.
 */
const MIRROR_SYNC_MAX = 300;
const MIRROR_DELAY_MS = 80;
/** The first paint zooms out no further than this (then starts at the top). */
const READABLE_ZOOM = 0.6;

const PATCH_COLORS: Record<string, string> = {
  lora: "#8e24aa", svf: "#00897b", sample: "#ef6c00", vote: "#1e88e5", sculpt: "#d81b60",
};
const PATCH_LABELS: Record<string, string> = {
  lora: "LoRA", svf: "SVF", sample: "MC", vote: "Vote", sculpt: "Var",
};

export function patchColor(kind: string): string {
  if (PATCH_COLORS[kind]) return PATCH_COLORS[kind];
  let h = 0;
  for (const c of kind) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h}, 60%, 45%)`;
}
export function patchLabel(kind: string): string {
  return PATCH_LABELS[kind] ?? kind;
}

/** All patches of a node (`patches`; a graph without it gives `patch` alone). */
export function nodePatches(n: GraphNode | undefined): PatchMark[] {
  if (!n) return [];
  if (n.patches && n.patches.length) return n.patches;
  return n.patch ? [{ ...n.patch, name: null, active: true }] : [];
}

/** A badge's text: the kind, with the adapter's name when several patches stack. */
export function markLabel(mark: PatchMark, stacked: boolean): string {
  return stacked && mark.name ? `${patchLabel(mark.kind)}:${mark.name}` : patchLabel(mark.kind);
}

interface Theme {
  bg: string; node: string; group: string; fg: string; fg2: string;
  border: string; edge: string; brand: string; warn: string; font: string;
}

interface Labels { name: string; cls: string; shape: string }

/** The +/- button of a group box, in world units: x, y, w, h. */
export function toggleRect(b: Box): [number, number, number, number] {
  return [b.x + b.w - TOGGLE_W + 2, b.y + 4, TOGGLE_W - 6, TOGGLE_W - 6];
}

export interface Hit { id: string; part: "body" | "toggle" }

/**
 * The innermost box under world point (x, y): children follow their container in `boxes`,
 * so the list is scanned backwards. A container's body (below its header) counts as
 * background; a group's +/- button (with `slop` world units around it) is the "toggle" part.
 */
export function hitTest(
  boxes: readonly Box[], x: number, y: number, slop: number, isGroup: (id: string) => boolean,
): Hit | null {
  for (let i = boxes.length - 1; i >= 0; i--) {
    const b = boxes[i];
    if (x < b.x || y < b.y || x > b.x + b.w || y > b.y + b.h) continue;
    if (b.container && y > b.y + HEADER_H) continue;
    if (isGroup(b.id)) {
      const [gx, gy, gw, gh] = toggleRect(b);
      if (x >= gx - slop && x <= gx + gw + slop && y >= gy - slop && y <= gy + gh + slop) {
        return { id: b.id, part: "toggle" };
      }
    }
    return { id: b.id, part: "body" };
  }
  return null;
}

export class CanvasView implements PointerTarget {
  readonly canvas: HTMLCanvasElement;
  readonly mirror: HTMLElement;
  private ctx: CanvasRenderingContext2D;
  private scene: Scene | null = null;
  private k = 1;
  private tx = 0;
  private ty = 0;
  private cssW = 0;
  private cssH = 0;
  private dpr = 1;
  private theme!: Theme;
  private labels = new Map<string, Labels>();
  private boxById = new Map<string, Box>();
  private edgeBounds: Float64Array = new Float64Array(0);
  private band: Rect | null = null;
  private hover: { id: string; part: string } | null = null;
  private frame = 0;
  private mirrorRows = new Map<string, { el: HTMLElement; values: Record<string, string> }>();
  private mirrorScene: Scene | null = null;
  private mirrorTransform = "";
  private mirrorTimer: ReturnType<typeof setTimeout> | 0 = 0;
  private fitted = false;

  constructor(private readonly host: HTMLElement) {
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.role = "graph-canvas";
    this.canvas.className = "rw-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("aria-label", "model graph; the node list follows");
    this.ctx = this.canvas.getContext("2d")!;
    this.mirror = document.createElement("div");
    this.mirror.dataset.role = "node-index";
    this.mirror.className = "rw-node-index";
    this.mirror.setAttribute("role", "list");
    host.append(this.canvas, this.mirror);
    this.readTheme();
  }

  /** Re-reads the colours from CSS variables (JupyterLab theme switch). */
  readTheme(): void {
    const cs = getComputedStyle(this.host);
    const v = (name: string, dflt: string) => cs.getPropertyValue(name).trim() || dflt;
    this.theme = {
      bg: v("--rw-bg", "#fff"), node: v("--rw-node", "#fafafa"), group: v("--rw-group", "#eeeeee"),
      fg: v("--rw-fg", "#000"), fg2: v("--rw-fg2", "#666"),
      border: v("--rw-border", "#bdbdbd"), edge: v("--rw-edge", "#9e9e9e"),
      brand: v("--rw-brand", "#1976d2"),
      warn: v("--rw-warn", "#f57c00"), font: v("--rw-font", "sans-serif"),
    };
    this.labels.clear();
    this.widths.clear();
    if (this.scene) this.prepare(this.scene);
    this.request();
  }

  private font(spec: string): string {
    return spec.replace("sans-serif", this.theme.font);
  }

  /** Text width in CSS pixels for a layout font (layout.ts FONT_*), with the theme's family. */
  measure = (text: string, font: string): number => {
    // Memoised: every relayout measures every visible label again (10k at 10k nodes).
    const key = font + "\u0000" + text;
    let w = this.widths.get(key);
    if (w === undefined) {
      this.ctx.font = this.font(font);
      w = this.ctx.measureText(text).width;
      if (this.widths.size > 100_000) this.widths.clear();
      this.widths.set(key, w);
    }
    return w;
  };
  private widths = new Map<string, number>();

  /** Sets the canvas size in CSS pixels (from a ResizeObserver). */
  resize(w: number, h: number): void {
    this.dpr = globalThis.devicePixelRatio || 1;
    this.cssW = Math.max(1, Math.floor(w));
    this.cssH = Math.max(1, Math.floor(h));
    this.canvas.width = Math.round(this.cssW * this.dpr);
    this.canvas.height = Math.round(this.cssH * this.dpr);
    this.canvas.style.width = `${this.cssW}px`;
    this.canvas.style.height = `${this.cssH}px`;
    if (!this.fitted && this.scene) this.fit(true);
    this.request();
  }

  /** New scene (layout or node state). `anchor`: keep this node where it was on screen. */
  setScene(scene: Scene, anchor?: string): void {
    const before = anchor ? this.boxById.get(anchor) : undefined;
    const oldScreen = before ? this.toScreen(before.x, before.y) : null;
    const layoutChanged = this.scene?.layout !== scene.layout;
    this.scene = scene;
    this.prepare(scene);
    if (layoutChanged) {
      const after = anchor ? this.boxById.get(anchor) : undefined;
      if (!this.fitted) this.fit(true);
      else if (oldScreen && after) {
        this.tx = oldScreen[0] - after.x * this.k;
        this.ty = oldScreen[1] - after.y * this.k;
        if (after.container) this.showInside(after);
      }
    }
    this.request();
  }

  private prepare(scene: Scene): void {
    const { boxes, edges } = scene.layout;
    this.boxById = new Map(boxes.map((b) => [b.id, b]));
    this.edgeBounds = new Float64Array(edges.length * 4);
    edges.forEach((e, i) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (let j = 0; j < e.points.length; j += 2) {
        x0 = Math.min(x0, e.points[j]); x1 = Math.max(x1, e.points[j]);
        y0 = Math.min(y0, e.points[j + 1]); y1 = Math.max(y1, e.points[j + 1]);
      }
      this.edgeBounds.set([x0, y0, x1, y1], i * 4);
    });
    for (const b of boxes) {
      const n = scene.node(b.id);
      if (!n) continue;
      const key = `${b.id}\u0000${b.w}\u0000${n.name}\u0000${n.class_name}\u0000${formatShape(n.output_shape)}`;
      const old = this.labels.get(b.id) as (Labels & { key?: string }) | undefined;
      if (old && old.key === key) continue;
      const room = b.w - 2 * PAD_X - (n.kind === "group" ? TOGGLE_W : 0);
      const cls = n.kind === "group" ? `${n.class_name} · ${formatCount(n.params)} params` : n.class_name;
      const entry = b.container
        ? { name: this.fit1(`${n.name} · ${n.class_name}`, FONT_NAME, b.w - 2 * PAD_X - TOGGLE_W), cls: "", shape: "" }
        : { name: this.fit1(n.name, FONT_NAME, room), cls: this.fit1(cls, FONT_SMALL, room),
            shape: this.fit1(formatShape(n.output_shape), FONT_SMALL, room) };
      this.labels.set(b.id, Object.assign(entry, { key }));
    }
  }

  /** `text` shortened with an ellipsis to fit `room` pixels. */
  private fit1(text: string, font: string, room: number): string {
    if (this.measure(text, font) <= room) return text;
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.measure(text.slice(0, mid) + "…", font) <= room) lo = mid;
      else hi = mid - 1;
    }
    return text.slice(0, lo) + "…";
  }

  // --- transform -------------------------------------------------------------------------

  toScreen(x: number, y: number): [number, number] {
    return [x * this.k + this.tx, y * this.k + this.ty];
  }
  toWorld(sx: number, sy: number): [number, number] {
    return [(sx - this.tx) / this.k, (sy - this.ty) / this.k];
  }

  /**
   * Fits the whole graph in view. `readable`: never below 60% zoom when the graph does not
   * fit (it then starts at the top, centred), which is what the first paint uses.
   */
  fit(readable = false): void {
    if (!this.scene || this.cssW < 2) return;
    const { width, height } = this.scene.layout;
    const m = 16;
    const fitW = (this.cssW - 2 * m) / Math.max(width, 1);
    const fitH = (this.cssH - 2 * m) / Math.max(height, 1);
    let k = Math.min(fitW, fitH, 1);
    if (readable && k < READABLE_ZOOM) k = Math.max(k, Math.min(READABLE_ZOOM, fitW));
    this.k = Math.max(0.02, k);
    this.tx = width * this.k <= this.cssW - 2 * m ? (this.cssW - width * this.k) / 2 : m;
    this.ty = height * this.k <= this.cssH - 2 * m ? (this.cssH - height * this.k) / 2 : m;
    this.fitted = true;
    this.request();
  }

  /**
   * A group just expanded in place: scroll up so that its inside shows, as far as the view
   * allows without pushing the group's header off the top.
   */
  private showInside(b: Box): void {
    const m = 16;
    const top = b.y * this.k + this.ty;
    const overflow = top + b.h * this.k - (this.cssH - m);
    const dy = Math.min(overflow, top - m);
    if (dy > 0) this.ty -= dy;
  }

  /** The next new layout is fitted like a first paint (it replaces a provisional one). */
  refitNext(): void {
    this.fitted = false;
  }

  /** Scrolls so that `id` is centred (when it is off screen). */
  reveal(id: string): void {
    const b = this.boxById.get(id);
    if (!b) return;
    const [x, y] = this.toScreen(b.x, b.y);
    if (x >= 0 && y >= 0 && x + b.w * this.k <= this.cssW && y + b.h * this.k <= this.cssH) return;
    this.tx = this.cssW / 2 - (b.x + b.w / 2) * this.k;
    this.ty = this.cssH / 2 - (b.y + b.h / 2) * this.k;
    this.request();
  }

  panBy(dx: number, dy: number): void {
    this.tx += dx;
    this.ty += dy;
    this.request();
  }

  zoomAt(sx: number, sy: number, factor: number): void {
    const k = Math.max(0.02, Math.min(4, this.k * factor));
    const [wx, wy] = this.toWorld(sx, sy);
    this.k = k;
    this.tx = sx - wx * k;
    this.ty = sy - wy * k;
    this.request();
  }

  setBand(r: Rect | null): void {
    this.band = r;
    this.request();
  }

  setHover(id: string | null, part: "body" | "toggle" | null): void {
    const next = id === null ? null : { id, part: part ?? "body" };
    if (next?.id === this.hover?.id && next?.part === this.hover?.part) return;
    this.hover = next;
    this.canvas.title = next ? this.describe(next.id, next.part) : "";
    this.request();
  }

  /** Tooltip text for a node. */
  private describe(id: string, part: string): string {
    const n = this.scene?.node(id);
    if (!n) return "";
    if (part === "toggle") return `${this.boxById.get(id)?.container ? "collapse" : "expand"} ${n.name}`;
    const lines = [`${n.id}`, `${n.class_name} → ${formatShape(n.output_shape) || "?"}`,
      `${formatCount(n.params)} params (${formatCount(n.trainable_params)} trainable)`];
    for (const m of nodePatches(n)) {
      const name = m.name ? ` ${JSON.stringify(m.name)}` : "";
      lines.push(`patch: ${m.kind}${name} ${JSON.stringify(m.params ?? {})}${m.active ? "" : " (inactive)"}`);
    }
    if (n.opaque) lines.push("opaque layer");
    const note = this.scene?.overlay?.get(id)?.note;
    if (note) lines.push(note);
    const risk = this.scene?.risk.get(id);
    if (risk !== undefined) lines.push(`risk share: ${(risk * 100).toFixed(0)}% of the largest`);
    return lines.join("\n");
  }

  // --- hit testing -----------------------------------------------------------------------

  private toggleRect(b: Box): [number, number, number, number] {
    return toggleRect(b);
  }

  hit(sx: number, sy: number): Hit | null {
    if (!this.scene) return null;
    const [x, y] = this.toWorld(sx, sy);
    const scene = this.scene;
    return hitTest(scene.layout.boxes, x, y, 3 / this.k, (id) => scene.node(id)?.kind === "group");
  }

  idsInScreenRect(r: Rect): string[] {
    if (!this.scene) return [];
    const [x0, y0] = this.toWorld(r.x0, r.y0);
    const [x1, y1] = this.toWorld(r.x1, r.y1);
    return boxesInside(this.scene.layout.boxes, { x0, y0, x1, y1 });
  }

  // --- drawing ---------------------------------------------------------------------------

  request(): void {
    // The mirror follows at once (not on the next frame), so a test that reads it right
    // after a click or a trait change sees the new state. A new scene of a big graph is
    // the exception: its thousands of rows would hold up the frame (a third of an expand at
    // 12k nodes), so they are written just after it, with `data-stale="true"` meanwhile.
    if (this.mirrorAfterFrame()) this.mirror.dataset.stale = "true";
    else this.updateMirror();
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws the canvas and syncs the mirror; `data-draw-ms` on the mirror says how long it took. */
  draw(): void {
    const t0 = performance.now();
    this.drawCanvas();
    const t1 = performance.now();
    this.mirror.dataset.drawMs = (t1 - t0).toFixed(1);
    if (this.mirrorAfterFrame()) {
      if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
      this.mirrorTimer = setTimeout(() => this.syncMirror(), 0);  // after this frame shows
    } else {
      this.syncMirror();
    }
  }

  private syncMirror(): void {
    // Called by its own timer or straight from a draw: either way no other write may stay
    // armed (a forgotten one fires mid-zoom and costs a frame at 10k rows).
    if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
    this.mirrorTimer = 0;
    const t0 = performance.now();
    this.updateMirror();
    this.mirror.dataset.mirrorMs = (performance.now() - t0).toFixed(1);
  }

  /** Whether the mirror of the current scene is written after the next frame, not before. */
  private mirrorAfterFrame(): boolean {
    const scene = this.scene;
    return Boolean(scene && !scene.provisional && scene !== this.mirrorScene &&
      scene.layout.boxes.length > MIRROR_SYNC_MAX);
  }

  private drawCanvas(): void {
    const { ctx, theme: t } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = t.bg;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const scene = this.scene;
    if (scene) {
      ctx.setTransform(this.dpr * this.k, 0, 0, this.dpr * this.k, this.dpr * this.tx, this.dpr * this.ty);
      const [vx0, vy0] = this.toWorld(0, 0);
      const [vx1, vy1] = this.toWorld(this.cssW, this.cssH);
      const inView = (b: Box) => b.x + b.w >= vx0 && b.y + b.h >= vy0 && b.x <= vx1 && b.y <= vy1;
      const text = this.k >= 0.35;
      for (const b of scene.layout.boxes) if (b.container && inView(b)) this.drawContainer(b, scene, text);
      this.drawEdges(scene, vx0, vy0, vx1, vy1);
      for (const b of scene.layout.boxes) if (!b.container && inView(b)) this.drawNode(b, scene, text);
    }
    if (this.band) {
      const r = this.band;
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
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
    if (n?.patch) this.drawMarks(b, nodePatches(n));
    if (text) {
      ctx.fillStyle = t.fg;
      ctx.font = this.font(FONT_NAME);
      ctx.textBaseline = "middle";
      ctx.fillText(this.labels.get(b.id)?.name ?? b.id, b.x + PAD_X, b.y + HEADER_H / 2 + 1);
    }
  }

  private drawToggle(b: Box, glyph: string): void {
    const { ctx, theme: t } = this;
    const [x, y, w, h] = this.toggleRect(b);
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

  private drawBadges(b: Box, kinds: Iterable<string>, inherited = false): void {
    const { ctx } = this;
    let right = b.x + b.w - (this.scene?.node(b.id)?.kind === "group" ? TOGGLE_W + 2 : 6);
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
  private drawMarks(b: Box, marks: PatchMark[]): void {
    const { ctx } = this;
    let right = b.x + b.w - (this.scene?.node(b.id)?.kind === "group" ? TOGGLE_W + 2 : 6);
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
    if (group) {
      // A stacked look for collapsed groups.
      this.roundRect(b.x + 4, b.y + 4, b.w, b.h, r);
      ctx.fillStyle = t.group;
      ctx.fill();
      ctx.strokeStyle = t.border;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    this.roundRect(b.x, b.y, b.w, b.h, r);
    ctx.fillStyle = group ? t.group : t.node;
    ctx.fill();
    if (selected || io) {
      ctx.globalAlpha = selected ? 0.16 : 0.08;
      ctx.fillStyle = t.brand;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    if (n?.patch) {
      ctx.fillStyle = patchColor(n.patch.kind);
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
    if (n?.patch) this.drawMarks(b, nodePatches(n));
    else if (group && scene.descendantPatches.has(b.id)) this.drawBadges(b, scene.descendantPatches.get(b.id)!, true);
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

  /** The preview's dashed outline (3px out) and the diff's solid one (6px out) with its +/~ tag. */
  private drawOverlay(b: Box, scene: Scene, r: number): void {
    const o = scene.overlay?.get(b.id);
    if (!o) return;
    const ctx = this.ctx;
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

  private drawEdges(scene: Scene, vx0: number, vy0: number, vx1: number, vy1: number): void {
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
    if (this.k < 0.3) return;
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

  // --- DOM mirror ------------------------------------------------------------------------

  /**
   * Writes one row per visible node with its on-screen rectangle. Node state is written at
   * once; for big graphs, rectangles after a pan or zoom are written once the view has been
   * still for a moment (`data-stale="true"` on the list meanwhile), to keep frames fast.
   */
  private updateMirror(): void {
    const scene = this.scene;
    const rows = this.mirrorRows;
    if (!scene || scene.provisional) {
      this.mirror.replaceChildren();
      rows.clear();
      return;
    }
    const transform = `${this.k}/${this.tx}/${this.ty}/${this.cssW}/${this.cssH}`;
    const onlyMoved = this.mirrorScene === scene && this.mirrorTransform !== transform;
    if (this.mirrorScene === scene && !onlyMoved) {
      // Back where the rows were written (a zoom in and out again): they are right as they
      // are, so a write still waiting would only cost a frame.
      if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
      this.mirrorTimer = 0;
      this.mirror.dataset.stale = "false";
      return;
    }
    if (onlyMoved && rows.size > MIRROR_SYNC_MAX) {
      this.mirror.dataset.stale = "true";
      if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
      this.mirrorTimer = setTimeout(() => {
        this.mirrorTimer = 0;
        this.writeMirror(scene);
      }, MIRROR_DELAY_MS);
      return;
    }
    this.writeMirror(scene);
  }

  private writeMirror(scene: Scene): void {
    if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
    this.mirrorTimer = 0;
    if (scene !== this.scene) return;
    const rows = this.mirrorRows;
    const seen = new Set<string>();
    let fresh = false;
    for (const b of scene.layout.boxes) {
      const n = scene.node(b.id);
      if (!n) continue;
      seen.add(b.id);
      let row = rows.get(b.id);
      if (!row) {
        const el = document.createElement("div");
        el.setAttribute("role", "listitem");
        el.dataset.nodeId = b.id;
        row = { el, values: {} };
        rows.set(b.id, row);
        fresh = true;
      }
      const [x, y] = this.toScreen(b.x, b.y);
      const w = b.w * this.k, h = b.h * this.k;
      const onscreen = x + w > 0 && y + h > 0 && x < this.cssW && y < this.cssH;
      const selected = String(scene.selection.has(b.id));
      const attrs: Record<string, string> = {
        "data-kind": n.kind,
        "data-name": n.name,
        "data-class-name": n.class_name,
        "data-selected": selected,
        "data-patch": n.patch?.kind ?? "",
        "data-patches": nodePatches(n).map((m) => (m.name ? `${m.kind}:${m.name}` : m.kind)).join(" "),
        "data-expanded": String(b.container),
        "data-x": x.toFixed(1), "data-y": y.toFixed(1), "data-w": w.toFixed(1), "data-h": h.toFixed(1),
        "data-onscreen": String(onscreen),
        "data-preview": scene.overlay?.get(b.id)?.preview ?? "",
        "data-diff": scene.overlay?.get(b.id)?.diff ?? "",
        "aria-selected": selected,
      };
      if (n.kind === "group") {
        const [gx, gy, gw, gh] = this.toggleRect(b);
        const [sx, sy] = this.toScreen(gx + gw / 2, gy + gh / 2);
        attrs["data-toggle-x"] = sx.toFixed(1);
        attrs["data-toggle-y"] = sy.toFixed(1);
      }
      for (const k in attrs) {
        if (row.values[k] !== attrs[k]) {
          row.el.setAttribute(k, attrs[k]);
          row.values[k] = attrs[k];
        }
      }
      const all = nodePatches(n);
      const marks = all.map((m) => (all.length > 1 && m.name ? `${m.kind}:${m.name}` : m.kind)).join(" + ");
      const label = `${n.name} (${n.class_name})${marks ? `, patched: ${marks}` : ""}`;
      if (row.values.label !== label) {
        row.el.textContent = label;
        row.values.label = label;
      }
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.el.remove();
        rows.delete(id);
      }
    }
    if (fresh || this.mirrorScene?.layout !== scene.layout) {
      // Keep the list in layout order (parents before children).
      this.mirror.replaceChildren(...scene.layout.boxes.flatMap((b) => rows.get(b.id)?.el ?? []));
    }
    this.mirrorScene = scene;
    this.mirrorTransform = `${this.k}/${this.tx}/${this.ty}/${this.cssW}/${this.cssH}`;
    this.mirror.dataset.stale = "false";
    this.mirror.dataset.zoom = this.k.toFixed(3);
    this.mirror.dataset.count = String(rows.size);
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    if (this.mirrorTimer) clearTimeout(this.mirrorTimer);
    this.frame = 0;
    this.canvas.remove();
    this.mirror.remove();
  }
}
