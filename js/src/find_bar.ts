// The find field above the graph: matches layer names, paths and classes as you type (also
// inside collapsed groups: find.ts), shows the hit count, and steps through the hits with
// Enter / Shift+Enter or its arrows. Ctrl/Cmd+F anywhere in the widget focuses it. Works in
// the standalone HTML page too (it needs no kernel). The editor does the stepping.
import { findCount, findNodes, stepHit, type FindResult } from "./find";
import type { Graph } from "./types";

/** Typing pauses this long before a big graph is searched again. */
const FIND_DELAY_MS = 60;

export interface FindHandlers {
  /** The hits changed (blank text: none); redraw their marks. */
  changed(): void;
  /** Go to hit `id` (expand the groups holding it, select and centre it). */
  go(id: string): void;
  /** Esc in the field: give the keyboard back to the graph. */
  leave(): void;
}

export class FindBar {
  readonly el: HTMLElement;
  readonly input: HTMLInputElement;
  private count: HTMLElement;
  private result: FindResult = { hits: [], error: null };
  private current = -1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private graph: Graph = { name: "", nodes: [], edges: [] };
  /** The graph the hits are for. */
  private searched: Graph | null = null;

  constructor(private readonly on: FindHandlers) {
    this.el = document.createElement("span");
    this.el.className = "rw-find";
    this.input = document.createElement("input");
    this.input.type = "search";
    this.input.className = "rw-input rw-find-input";
    this.input.dataset.role = "find-input";
    this.input.placeholder = "Find layer (name, path, class, /regex/)";
    this.input.title = "Find layers by name, path or class, also inside collapsed groups. " +
      "Enter: next, Shift+Enter: previous. Ctrl/Cmd+F in the widget jumps here.";
    this.input.setAttribute("aria-label", "find layers");
    this.count = document.createElement("span");
    this.count.className = "rw-muted rw-find-count";
    this.count.dataset.role = "find-count";
    const button = (role: string, text: string, title: string, step: 1 | -1) => {
      const b = document.createElement("button");
      b.className = "rw-btn rw-find-step";
      b.dataset.role = role;
      b.textContent = text;
      b.title = title;
      b.addEventListener("click", () => this.step(step));
      return b;
    };
    this.el.append(this.input, button("find-prev", "↑", "previous hit (Shift+Enter)", -1),
      button("find-next", "↓", "next hit (Enter)", 1), this.count);
    this.input.addEventListener("input", () => this.schedule());
    this.input.addEventListener("keydown", (ev) => {
      // Keys typed here are the field's: JupyterLab must not read Shift+Enter as "run cell".
      ev.stopPropagation();
      if (ev.key === "Enter") {
        ev.preventDefault();
        this.search(); // a pending search first
        this.step(ev.shiftKey ? -1 : 1);
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        if (this.input.value) this.clear();
        else this.on.leave();
      }
    });
    this.render();
  }

  /** A new graph: the same text is searched again (ids may have changed). */
  setGraph(graph: Graph): void {
    this.graph = graph;
    if (this.input.value.trim()) this.search();
  }

  /** The hits now, in graph order. */
  hits(): readonly string[] {
    return this.result.hits;
  }

  /** The hit stepped to last, or null. */
  currentHit(): string | null {
    return this.current >= 0 ? this.result.hits[this.current] ?? null : null;
  }

  focus(): void {
    this.input.focus();
    this.input.select();
  }

  clear(): void {
    this.input.value = "";
    this.search();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.search(), this.graph.nodes.length > 2000 ? FIND_DELAY_MS : 0);
  }

  /** Searches the text now in the field. */
  private search(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const text = this.input.value;
    if (text === this.el.dataset.query && this.graph === this.searched) return;
    this.searched = this.graph;
    // Same text on a new graph (a patch): stay at the hit stepped to; new text: start over.
    const keep = text === this.el.dataset.query ? this.currentHit() : null;
    this.result = findNodes(this.graph, text);
    this.current = keep === null ? -1 : this.result.hits.indexOf(keep);
    this.el.dataset.query = text;
    this.render();
    this.on.changed();
  }

  private step(dir: 1 | -1): void {
    this.search();
    const next = stepHit(this.result.hits.length, this.current, dir);
    if (next < 0) return;
    this.current = next;
    this.render();
    this.on.go(this.result.hits[next]);
  }

  private render(): void {
    const n = this.result.hits.length;
    this.count.textContent = this.input.value.trim() ? findCount(this.result, this.current) : "";
    this.count.dataset.count = String(n);
    this.count.dataset.current = String(this.current);
    this.count.dataset.error = String(Boolean(this.result.error));
    this.el.dataset.hits = String(n);
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
