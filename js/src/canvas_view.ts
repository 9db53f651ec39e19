// The graph canvas: owns the <canvas>, the view transform and the node mirror, and ties
// them together. A new scene, a pan, a zoom, a hover or a band requests a frame; painting is
// canvas_paint.ts, label text node_labels.ts, the DOM mirror node_mirror.ts, hit testing
// hit.ts, the transform viewport.ts. The pointer controller (selection.ts) drives it through
// `PointerTarget`.
import type { Box, Measure } from "./layout";
import { formatCount, formatShape } from "./graph_model";
import type { PointerTarget, Rect } from "./selection";
import { boxesInside } from "./selection";
import type { Scene } from "./scene";
import { Viewport } from "./viewport";
import { NodeLabels } from "./node_labels";
import { NodeMirror } from "./node_mirror";
import { readTheme, ScenePainter, type Hover, type Theme } from "./canvas_paint";
import { hitTest, type Hit } from "./hit";
import { nodePatches } from "./patch_marks";
import { Minimap } from "./minimap";
import { familyColor, familyLabel, familyOf } from "./families";
import { formatValue } from "./overlay";

export class CanvasView implements PointerTarget {
  readonly canvas: HTMLCanvasElement;
  readonly mirror: HTMLElement;
  /** Text width in CSS pixels for a layout font (layout.ts FONT_*), with the theme's family. */
  readonly measure: Measure;
  private ctx: CanvasRenderingContext2D;
  private scene: Scene | null = null;
  private vp = new Viewport();
  private labels: NodeLabels;
  private painter: ScenePainter;
  private nodeMirror: NodeMirror;
  private minimap: Minimap;
  /** What the minimap's boxes were last drawn for: layout, overlay fills, theme. */
  private minimapKey: [unknown, unknown, unknown] = [null, null, null];
  private boxById = new Map<string, Box>();
  private band: Rect | null = null;
  private hover: Hover | null = null;
  private frame = 0;
  private fitted = false;

  constructor(private readonly host: HTMLElement) {
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.role = "graph-canvas";
    this.canvas.className = "rw-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("aria-label", "model graph; the node list follows");
    this.ctx = this.canvas.getContext("2d")!;
    this.labels = new NodeLabels(this.ctx);
    this.measure = this.labels.measure;
    this.painter = new ScenePainter(this.ctx, this.labels);
    this.nodeMirror = new NodeMirror(() => this.scene, this.vp, (id) => this.painter.fillOf(id));
    this.mirror = this.nodeMirror.el;
    this.minimap = new Minimap((x, y) => {
      this.vp.centreAt(x, y);
      this.request();
    });
    host.append(this.canvas, this.mirror, this.minimap.el);
    this.readTheme();
  }

  /** The colours and font now (canvas_paint.ts `Theme`). */
  get theme(): Theme {
    return this.painter.theme;
  }

  /** Re-reads the colours from CSS variables (JupyterLab theme switch). */
  readTheme(): void {
    this.painter.theme = readTheme(this.host);
    this.labels.setFamily(this.painter.theme.font);
    if (this.scene) this.prepare(this.scene);
    this.request();
  }

  /** Sets the canvas size in CSS pixels (from a ResizeObserver). */
  resize(w: number, h: number): void {
    const vp = this.vp;
    vp.dpr = globalThis.devicePixelRatio || 1;
    const cssW = Math.max(1, Math.floor(w));
    const cssH = Math.max(1, Math.floor(h));
    if (this.fitted && vp.cssW > 1) {
      // The view's centre stays put (the details panel opening beside the graph, a taller
      // cell): what was centred, a find hit, stays centred.
      vp.panBy((cssW - vp.cssW) / 2, (cssH - vp.cssH) / 2);
    }
    vp.cssW = cssW;
    vp.cssH = cssH;
    this.canvas.width = Math.round(vp.cssW * vp.dpr);
    this.canvas.height = Math.round(vp.cssH * vp.dpr);
    this.canvas.style.width = `${vp.cssW}px`;
    this.canvas.style.height = `${vp.cssH}px`;
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
        this.vp.pin(after.x, after.y, oldScreen);
        if (after.container) this.vp.showInside(after);
      }
    }
    this.request();
  }

  private prepare(scene: Scene): void {
    this.boxById = new Map(scene.layout.boxes.map((b) => [b.id, b]));
    this.painter.prepare(scene);
    this.labels.prepare(scene);
    const key: [unknown, unknown, unknown] = [scene.layout, scene.values?.fill, this.painter.theme];
    if (key.some((k, i) => k !== this.minimapKey[i])) {
      this.minimapKey = key;
      const dark = this.painter.theme.dark;
      const colorOf = (id: string) => {
        const n = scene.node(id);
        if (scene.values) return this.painter.fillOf(id);
        return n ? familyColor(familyOf(n), dark) : this.painter.theme.border;
      };
      this.minimap.setLayout(scene.layout, colorOf);
    }
  }

  // --- transform -------------------------------------------------------------------------

  toScreen(x: number, y: number): [number, number] {
    return this.vp.toScreen(x, y);
  }
  toWorld(sx: number, sy: number): [number, number] {
    return this.vp.toWorld(sx, sy);
  }

  /**
   * Fits the whole graph in view. `readable`: never below 60% zoom when the graph does not
   * fit (it then starts at the top, centred), which is what the first paint uses.
   */
  fit(readable = false): void {
    if (!this.scene || this.vp.cssW < 2) return;
    this.vp.fit(this.scene.layout.width, this.scene.layout.height, readable);
    this.fitted = true;
    this.request();
  }

  /** The next new layout is fitted like a first paint (it replaces a provisional one). */
  refitNext(): void {
    this.fitted = false;
  }

  /** Scrolls so that `id` is centred (when it is off screen). */
  reveal(id: string): void {
    const b = this.boxById.get(id);
    if (!b) return;
    if (this.vp.reveal(b)) this.request();
  }

  /** Centres `id` in the view, wherever it is (find steps through hits this way). */
  centre(id: string): void {
    const b = this.boxById.get(id);
    if (!b) return;
    this.vp.centre(b);
    this.request();
  }

  /** The boxes on screen now (keyboard navigation reads them). */
  boxes(): readonly Box[] {
    return this.scene?.layout.boxes ?? [];
  }

  panBy(dx: number, dy: number): void {
    this.vp.panBy(dx, dy);
    this.request();
  }

  zoomAt(sx: number, sy: number, factor: number): void {
    this.vp.zoomAt(sx, sy, factor);
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
    const lines = [`${n.id}`, `${n.class_name} (${familyLabel(familyOf(n))}) → ${formatShape(n.output_shape) || "?"}`,
      `${formatCount(n.params)} params (${formatCount(n.trainable_params)} trainable)`];
    for (const m of nodePatches(n)) {
      const name = m.name ? ` ${JSON.stringify(m.name)}` : "";
      lines.push(`patch: ${m.kind}${name} ${JSON.stringify(m.params ?? {})}${m.active ? "" : " (inactive)"}`);
    }
    if (n.opaque) lines.push("opaque layer");
    const values = this.scene?.values;
    const v = values?.value.get(id);
    if (values && v !== undefined) lines.push(`${values.name}: ${formatValue(v)}`);
    const note = this.scene?.overlay?.get(id)?.note;
    if (note) lines.push(note);
    const risk = this.scene?.risk.get(id);
    if (risk !== undefined) lines.push(`risk share: ${(risk * 100).toFixed(0)}% of the largest`);
    return lines.join("\n");
  }

  // --- hit testing -----------------------------------------------------------------------

  hit(sx: number, sy: number): Hit | null {
    if (!this.scene) return null;
    const [x, y] = this.toWorld(sx, sy);
    const scene = this.scene;
    return hitTest(scene.layout.boxes, x, y, 3 / this.vp.k, (id) => scene.node(id)?.kind === "group");
  }

  idsInScreenRect(r: Rect): string[] {
    if (!this.scene) return [];
    const [x0, y0] = this.toWorld(r.x0, r.y0);
    const [x1, y1] = this.toWorld(r.x1, r.y1);
    return boxesInside(this.scene.layout.boxes, { x0, y0, x1, y1 });
  }

  // --- frames ----------------------------------------------------------------------------

  request(): void {
    // The mirror follows at once (not on the next frame), so a test that reads it right
    // after a click or a trait change sees the new state. A new scene of a big graph is
    // the exception: its thousands of rows would hold up the frame (a third of an expand at
    // 12k nodes), so they are written just after it, with `data-stale="true"` meanwhile.
    if (this.nodeMirror.afterFrame()) this.mirror.dataset.stale = "true";
    else this.nodeMirror.update();
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws the canvas and syncs the mirror; `data-draw-ms` on the mirror says how long it took. */
  draw(): void {
    const t0 = performance.now();
    this.painter.paint(this.scene, this.vp, this.hover, this.band);
    const t1 = performance.now();
    this.mirror.dataset.drawMs = (t1 - t0).toFixed(1);
    this.minimap.update(this.vp);
    this.nodeMirror.frameDrawn();
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.canvas.remove();
    this.nodeMirror.dispose();
    this.minimap.dispose();
  }
}
