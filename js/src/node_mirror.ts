// The hidden DOM mirror of the canvas (`data-role="node-index"`): one list item per visible
// node with its state and on-screen rectangle, which tests and assistive tech read. Big
// graphs get their rows written a little late, so that pans, zooms and expands keep their
// frame rate; `data-stale="true"` on the list says so meanwhile.
import type { Scene } from "./scene";
import type { Viewport } from "./viewport";
import { toggleRect } from "./hit";
import { nodePatches } from "./patch_marks";
import { familyOf } from "./families";

/**
 * Above this many rows, the mirror's rectangles follow pans and zooms after a short pause,
 * and a new scene's rows are written just after its first frame.
 */
const MIRROR_SYNC_MAX = 300;
const MIRROR_DELAY_MS = 80;

export class NodeMirror {
  readonly el: HTMLElement;
  private rows = new Map<string, { el: HTMLElement; values: Record<string, string> }>();
  /** The scene and transform the rows were last written for. */
  private shown: Scene | null = null;
  private shownAt = "";
  private timer: ReturnType<typeof setTimeout> | 0 = 0;

  /**
   * `current`: the view's scene now (a late write for an older one is dropped); `fill`: the
   * colour a node is filled with (its family's, or its overlay value's).
   */
  constructor(private readonly current: () => Scene | null, private readonly vp: Viewport,
    private readonly fill: (id: string) => string) {
    this.el = document.createElement("div");
    this.el.dataset.role = "node-index";
    this.el.className = "rw-node-index";
    this.el.setAttribute("role", "list");
  }

  /** Whether the mirror of the current scene is written after the next frame, not before. */
  afterFrame(): boolean {
    const scene = this.current();
    return Boolean(scene && !scene.provisional && scene !== this.shown &&
      scene.layout.boxes.length > MIRROR_SYNC_MAX);
  }

  /** Called once a frame is drawn: writes the rows now, or just after the frame shows. */
  frameDrawn(): void {
    if (this.afterFrame()) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.sync(), 0);  // after this frame shows
    } else {
      this.sync();
    }
  }

  private sync(): void {
    // Called by its own timer or straight from a draw: either way no other write may stay
    // armed (a forgotten one fires mid-zoom and costs a frame at 10k rows).
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    const t0 = performance.now();
    this.update();
    this.el.dataset.mirrorMs = (performance.now() - t0).toFixed(1);
  }

  /**
   * Writes one row per visible node with its on-screen rectangle. Node state is written at
   * once; for big graphs, rectangles after a pan or zoom are written once the view has been
   * still for a moment (`data-stale="true"` on the list meanwhile), to keep frames fast.
   */
  update(): void {
    const scene = this.current();
    const rows = this.rows;
    if (!scene || scene.provisional) {
      this.el.replaceChildren();
      rows.clear();
      return;
    }
    const transform = this.vp.key();
    const onlyMoved = this.shown === scene && this.shownAt !== transform;
    if (this.shown === scene && !onlyMoved) {
      // Back where the rows were written (a zoom in and out again): they are right as they
      // are, so a write still waiting would only cost a frame.
      if (this.timer) clearTimeout(this.timer);
      this.timer = 0;
      this.el.dataset.stale = "false";
      return;
    }
    if (onlyMoved && rows.size > MIRROR_SYNC_MAX) {
      this.el.dataset.stale = "true";
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = 0;
        this.write(scene);
      }, MIRROR_DELAY_MS);
      return;
    }
    this.write(scene);
  }

  private write(scene: Scene): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    if (scene !== this.current()) return;
    const vp = this.vp;
    const rows = this.rows;
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
      const [x, y] = vp.toScreen(b.x, b.y);
      const w = b.w * vp.k, h = b.h * vp.k;
      const onscreen = x + w > 0 && y + h > 0 && x < vp.cssW && y < vp.cssH;
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
        "data-find": scene.overlay?.get(b.id)?.find ?? "",
        "data-family": familyOf(n),
        "data-fill": this.fill(b.id),
        "data-value": scene.values?.value.has(b.id) ? String(scene.values.value.get(b.id)) : "",
        "aria-selected": selected,
      };
      if (n.kind === "group") {
        const [gx, gy, gw, gh] = toggleRect(b);
        const [sx, sy] = vp.toScreen(gx + gw / 2, gy + gh / 2);
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
    if (fresh || this.shown?.layout !== scene.layout) {
      // Keep the list in layout order (parents before children).
      this.el.replaceChildren(...scene.layout.boxes.flatMap((b) => rows.get(b.id)?.el ?? []));
    }
    this.shown = scene;
    this.shownAt = vp.key();
    this.el.dataset.stale = "false";
    this.el.dataset.zoom = vp.k.toFixed(3);
    this.el.dataset.count = String(rows.size);
  }

  /** Drops a write still waiting and takes the list out of the page. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.el.remove();
  }
}
