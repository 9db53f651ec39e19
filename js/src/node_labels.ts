// Text on the canvas: measures it with the theme's font family (the layout sizes boxes with
// it) and shortens each node's labels with an ellipsis to fit its box, both memoised.
import { classLine, FONT_NAME, FONT_SMALL, PAD_X, TOGGLE_W } from "./layout";
import { formatShape } from "./graph_model";
import type { Scene } from "./scene";

/** The three lines of a node box (a container has only `name`, its header). */
export interface Labels { name: string; cls: string; shape: string }

export class NodeLabels {
  private family = "sans-serif";
  private widths = new Map<string, number>();
  private labels = new Map<string, Labels & { key: string }>();

  constructor(private readonly ctx: CanvasRenderingContext2D) {}

  /** A new font family (theme switch): every width and label is measured again. */
  setFamily(family: string): void {
    this.family = family;
    this.labels.clear();
    this.widths.clear();
  }

  /** A layout font (layout.ts FONT_*) in the theme's family. */
  font(spec: string): string {
    return spec.replace("sans-serif", this.family);
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

  get(id: string): Labels | undefined {
    return this.labels.get(id);
  }

  /** Fits the labels of every box of `scene` (only those whose text or width changed). */
  prepare(scene: Scene): void {
    for (const b of scene.layout.boxes) {
      const n = scene.node(b.id);
      if (!n) continue;
      const group = n.kind === "group";
      const key = `${b.id}\u0000${b.w}\u0000${n.name}\u0000${n.class_name}\u0000${group ? n.params : ""}\u0000${formatShape(n.output_shape)}`;
      const old = this.labels.get(b.id);
      if (old && old.key === key) continue;
      const cls = classLine(n);
      const room = b.w - 2 * PAD_X - (group ? TOGGLE_W : 0);
      // The class is never cut (boxes are sized to it, layout.ts nodeSize): the name gives way.
      const tail = ` · ${n.class_name}`;
      const entry = b.container
        ? { name: this.fit(n.name, FONT_NAME, b.w - 2 * PAD_X - TOGGLE_W - this.measure(tail, FONT_NAME)) + tail,
            cls: "", shape: "" }
        : { name: this.fit(n.name, FONT_NAME, room), cls,
            shape: this.fit(formatShape(n.output_shape), FONT_SMALL, room) };
      this.labels.set(b.id, Object.assign(entry, { key }));
    }
  }

  /** `text` shortened with an ellipsis to fit `room` pixels. */
  private fit(text: string, font: string, room: number): string {
    if (this.measure(text, font) <= room) return text;
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.measure(text.slice(0, mid) + "…", font) <= room) lo = mid;
      else hi = mid - 1;
    }
    return text.slice(0, lo) + "…";
  }
}
