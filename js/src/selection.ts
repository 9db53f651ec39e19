// Pointer interaction on the graph canvas: click selects, shift-click toggles, a drag on the
// background draws a rubber band that selects every node inside it (shift adds), a drag on
// a node, a middle-button drag or a drag with Alt/Ctrl/Meta pans, the wheel zooms. Keys:
// arrows move the selection along the edges (pan without a selection), Enter expands or
// collapses the selected group, Esc clears, f fits, +/- zoom.
import type { Box } from "./layout";

export interface Rect { x0: number; y0: number; x1: number; y1: number }

/** The rectangle spanned by two corners, normalised so x0 <= x1 and y0 <= y1. */
export function normRect(ax: number, ay: number, bx: number, by: number): Rect {
  return { x0: Math.min(ax, bx), y0: Math.min(ay, by), x1: Math.max(ax, bx), y1: Math.max(ay, by) };
}

/** Ids of the selectable boxes (leaves and collapsed groups) wholly inside `r`. */
export function boxesInside(boxes: readonly Box[], r: Rect): string[] {
  const out: string[] = [];
  for (const b of boxes) {
    if (b.container) continue;
    if (b.x >= r.x0 && b.y >= r.y0 && b.x + b.w <= r.x1 && b.y + b.h <= r.y1) out.push(b.id);
  }
  return out;
}

/** What the pointer controller needs from the view. */
export interface PointerTarget {
  hit(sx: number, sy: number): { id: string; part: "body" | "toggle" } | null;
  idsInScreenRect(r: Rect): string[];
  panBy(dx: number, dy: number): void;
  zoomAt(sx: number, sy: number, factor: number): void;
  setBand(r: Rect | null): void;
  setHover(id: string | null, part: "body" | "toggle" | null): void;
  fit(): void;
}

export interface PointerHandlers {
  /** A click on a node (`id`) or on the background (`null`). */
  click(id: string | null, shift: boolean): void;
  toggle(id: string): void;
  box(ids: string[], additive: boolean): void;
  isGroup(id: string): boolean;
  /** An arrow key: move the selection along the edges (navigate.ts); false: nothing selected,
   *  the arrow pans instead. */
  arrow?(key: string): boolean;
  /** Enter: expand or collapse the selected group; false: nothing to do. */
  enter?(): boolean;
}

const DRAG_PX = 4;

/** Wires pointer, wheel and key events on `canvas`; returns a function that unwires them. */
export function attachPointer(canvas: HTMLCanvasElement, view: PointerTarget, on: PointerHandlers): () => void {
  type Mode = "none" | "pan" | "node" | "band-pending" | "band";
  let mode: Mode = "none";
  let sx0 = 0, sy0 = 0, lastX = 0, lastY = 0, moved = false, pointerId = -1;
  let downHit: ReturnType<PointerTarget["hit"]> = null;

  const local = (ev: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top] as const;
  };

  const down = (ev: PointerEvent) => {
    if (ev.button !== 0 && ev.button !== 1) return;
    const [x, y] = local(ev);
    sx0 = lastX = x; sy0 = lastY = y; moved = false; pointerId = ev.pointerId;
    downHit = view.hit(x, y);
    const panKey = ev.altKey || ev.ctrlKey || ev.metaKey;
    mode = ev.button === 1 || panKey ? "pan" : downHit ? "node" : "band-pending";
    canvas.setPointerCapture?.(ev.pointerId);
    canvas.focus({ preventScroll: true });
    if (ev.button === 1) ev.preventDefault();
  };

  const move = (ev: PointerEvent) => {
    const [x, y] = local(ev);
    if (mode === "none") {
      const h = view.hit(x, y);
      view.setHover(h?.id ?? null, h?.part ?? null);
      canvas.style.cursor = h ? "pointer" : "default";
      return;
    }
    if (ev.pointerId !== pointerId) return;
    if (!moved && Math.hypot(x - sx0, y - sy0) > DRAG_PX) {
      moved = true;
      if (mode === "node") mode = "pan";
      if (mode === "band-pending") mode = "band";
    }
    if (mode === "pan" && moved) {
      view.panBy(x - lastX, y - lastY);
      canvas.style.cursor = "grabbing";
    } else if (mode === "band") {
      view.setBand(normRect(sx0, sy0, x, y));
    }
    lastX = x; lastY = y;
  };

  const up = (ev: PointerEvent) => {
    if (mode === "none" || ev.pointerId !== pointerId) return;
    const [x, y] = local(ev);
    const was = mode;
    mode = "none";
    canvas.style.cursor = "default";
    if (was === "band") {
      view.setBand(null);
      on.box(view.idsInScreenRect(normRect(sx0, sy0, x, y)), ev.shiftKey);
    } else if (!moved && was === "node" && downHit) {
      if (downHit.part === "toggle") on.toggle(downHit.id);
      else on.click(downHit.id, ev.shiftKey);
    } else if (!moved && was === "band-pending") {
      on.click(null, ev.shiftKey);
    }
  };

  const cancel = () => {
    if (mode === "band") view.setBand(null);
    mode = "none";
  };

  const dbl = (ev: MouseEvent) => {
    const [x, y] = local(ev);
    const h = view.hit(x, y);
    if (!h) view.fit();
    else if (h.part === "body" && on.isGroup(h.id)) on.toggle(h.id);
  };

  const wheel = (ev: WheelEvent) => {
    ev.preventDefault();
    const [x, y] = local(ev);
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    const dy = Math.max(-400, Math.min(400, ev.deltaY * unit));
    view.zoomAt(x, y, Math.exp(-dy * (ev.ctrlKey ? 0.01 : 0.0015)));
  };

  const key = (ev: KeyboardEvent) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return; // shortcuts (Ctrl+F: find) are not ours
    const w = canvas.clientWidth / 2, h = canvas.clientHeight / 2;
    if (ev.key === "Escape") on.click(null, false);
    else if (ev.key === "f" || ev.key === "0") view.fit();
    else if (ev.key === "+" || ev.key === "=") view.zoomAt(w, h, 1.25);
    else if (ev.key === "-") view.zoomAt(w, h, 0.8);
    else if (ev.key === "Enter" && on.enter?.()) { /* handled */ }
    else if (ev.key.startsWith("Arrow") && on.arrow?.(ev.key)) { /* handled */ }
    else if (ev.key.startsWith("Arrow")) {
      const d = 40;
      view.panBy(ev.key === "ArrowLeft" ? d : ev.key === "ArrowRight" ? -d : 0,
        ev.key === "ArrowUp" ? d : ev.key === "ArrowDown" ? -d : 0);
    } else return;
    ev.preventDefault();
    ev.stopPropagation(); // keep JupyterLab's command-mode shortcuts (arrows, Esc, -) out of it
  };

  const leave = () => { if (mode === "none") view.setHover(null, null); };
  const aux = (ev: MouseEvent) => { if (ev.button === 1) ev.preventDefault(); };

  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", cancel);
  canvas.addEventListener("pointerleave", leave);
  canvas.addEventListener("dblclick", dbl);
  canvas.addEventListener("wheel", wheel, { passive: false });
  canvas.addEventListener("keydown", key);
  canvas.addEventListener("auxclick", aux);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", cancel);
    canvas.removeEventListener("pointerleave", leave);
    canvas.removeEventListener("dblclick", dbl);
    canvas.removeEventListener("wheel", wheel);
    canvas.removeEventListener("keydown", key);
    canvas.removeEventListener("auxclick", aux);
  };
}
