// Entry point of the anywidget front end: wires the traits and messages of
// docs/architecture.md to the canvas graph view, the toolbar and the risk plot.
import type { AnyModel, RenderProps } from "@anywidget/types";
import css from "./style.css";
import uplotCss from "uplot/dist/uPlot.min.css";
import type { OutMessage, Risk, WidgetState } from "./types";
import {
  asGraph, boxSelect, clickSelect, indexGraph, isGroup, pruneSelection, reveal, sameIds,
  toggleExpanded, validKinds, visibleGraph, type GraphIndex, type VisibleGraph,
} from "./graph_model";
import { buildLayoutInput, type Layout } from "./layout";
import { LayoutEngine } from "./layout_engine";
import { LayoutClient } from "./layout_client";
import { lookaheadInputs } from "./lookahead";
import { CanvasView } from "./canvas_view";
import type { Scene } from "./scene";
import { attachPointer } from "./selection";
import { Toolbar } from "./toolbar";
import { RiskPlot } from "./risk_plot";
import { TargetPreview } from "./target_preview";
import { DiffPanel } from "./diff_view";
import { CodePanel } from "./code_export_view";
import { ParamReportPanel } from "./param_report_view";
import { ViewBar } from "./view_bar";
import { DetailsPanel } from "./details_panel";
import { nodeMarks, OverlayMemo, renderPatchLegend } from "./scene_marks";
import { ARROWS, neighbour } from "./navigate";

/** Browser writes to Python are debounced by this many milliseconds. */
const SAVE_DELAY_MS = 120;

type Model = AnyModel<WidgetState>;

class Editor {
  readonly root: HTMLElement;
  private view: CanvasView;
  private toolbar: Toolbar;
  private risk: RiskPlot;
  /** The target field (what a typed target matches) and the patch diff toggle. */
  private preview: TargetPreview;
  private diffPanel: DiffPanel;
  /** The exported script (Code button) and the parameter report (Params toggle). */
  private codePanel: CodePanel;
  private reportPanel: ParamReportPanel;
  /** Find, the overlay picker and the colour legend (above the graph); the details panel. */
  private viewBar: ViewBar;
  private details: DetailsPanel;
  /** The overlay shown ("" for the layer families); view state, mirrored to the trait. */
  private overlayName = "";
  private overlays = new OverlayMemo();
  private client = new LayoutClient();
  /** The quick layout (no ELK) drawn while the first ELK layout of a graph is on its way. */
  private quick = new LayoutEngine(null);
  private provisional = false;
  private stage: HTMLElement;
  private empty: HTMLElement;
  private legend: HTMLElement;
  private index: GraphIndex = indexGraph(asGraph(null));
  private vis: VisibleGraph | null = null;
  private layout: Layout | null = null;
  /** The selection: held here only (the toolbar and the canvas read it, never copy it). */
  private selection: string[] = [];
  private expanded: string[] = [];
  /** A node Python selected, to scroll to once a layout that shows it is on screen. */
  private scrollTarget: string | null = null;
  /** Centre the scroll target even when it is on screen already (find's hits). */
  private centreTarget = false;
  private dirty = new Set<"selection" | "expanded">();
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private layoutSeq = 0;
  /** The ELK input of `layout`, to skip layouts that would change nothing. */
  private layoutKey = "";
  private cleanups: Array<() => void> = [];

  constructor(private readonly model: Model, el: HTMLElement) {
    this.root = document.createElement("div");
    this.root.className = "rw-editor";
    const style = document.createElement("style");
    style.textContent = uplotCss + "\n" + css;
    this.toolbar = new Toolbar({
      send: (m) => this.send(m),
      targets: () => this.preview.targets() ?? pruneSelection(this.index, this.selection),
      fit: () => this.view.fit(),
      expandAll: () => this.setExpanded(this.index.graph.nodes.filter(isGroup).map((n) => n.id)),
      collapseAll: () => this.setExpanded([]),
      clearSelection: () => this.setSelection([]),
      localError: (message) => this.toolbar.showLocal({ level: "error", message }),
    });
    this.preview = new TargetPreview((m) => this.send(m), () => this.refresh());
    this.diffPanel = new DiffPanel((m) => this.send(m));
    this.codePanel = new CodePanel((m) => this.send(m));
    this.reportPanel = new ParamReportPanel((m) => this.send(m));
    this.diffPanel.el.prepend(this.reportPanel.toggle);
    this.preview.el.append(this.diffPanel.el);
    this.toolbar.addRow(this.preview.el);
    this.toolbar.addRow(this.reportPanel.el);
    this.toolbar.addRow(this.codePanel.el);
    this.viewBar = new ViewBar({
      changed: () => this.refresh(),
      go: (id) => this.goTo(id),
      leave: () => this.view.canvas.focus(),
    }, (name) => this.setOverlay(name));
    this.details = new DetailsPanel((id) => this.goTo(id));
    this.stage = document.createElement("div");
    this.stage.className = "rw-stage";
    const body = document.createElement("div");
    body.className = "rw-body";
    body.append(this.stage, this.details.el);
    this.empty = document.createElement("div");
    this.empty.className = "rw-empty";
    this.legend = document.createElement("div");
    this.legend.className = "rw-legend";
    this.legend.dataset.role = "legend";
    this.risk = new RiskPlot();
    this.root.append(style, this.toolbar.el, this.viewBar.el, body, this.risk.el);
    el.appendChild(this.root);
    this.view = new CanvasView(this.stage);
    const busy = document.createElement("div");
    busy.className = "rw-busy";
    busy.textContent = "laying out…";
    this.stage.append(this.empty, busy, this.legend);
    this.root.dataset.layout = "pending";

    this.cleanups.push(attachPointer(this.view.canvas, this.view, {
      click: (id, shift) => this.setSelection(clickSelect(this.selection, id, shift)),
      toggle: (id) => this.setExpanded(toggleExpanded(this.index, this.expanded, id), id),
      box: (ids, additive) => this.setSelection(boxSelect(this.selection, ids, additive)),
      isGroup: (id) => isGroup(this.index.byId.get(id)),
      arrow: (key) => this.arrow(key),
      enter: () => this.enter(),
    }));
    // Ctrl/Cmd+F while the widget has the focus: our find field, not the page's or JupyterLab's.
    const findKey = (ev: KeyboardEvent) => {
      if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === "f") {
        ev.preventDefault();
        ev.stopPropagation();
        this.viewBar.find.focus();
      }
    };
    this.root.addEventListener("keydown", findKey);
    this.cleanups.push(() => this.root.removeEventListener("keydown", findKey));

    const ro = new ResizeObserver(() => {
      this.view.resize(this.stage.clientWidth, this.stage.clientHeight);
      this.risk.resize(this.root.clientWidth - 18);
    });
    ro.observe(this.stage);
    this.cleanups.push(() => ro.disconnect());

    const mo = new MutationObserver(() => {
      this.view.readTheme();
      this.refresh();
      this.risk.retheme();
      this.risk.update(this.model.get("risk") as Risk);
    });
    mo.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
    this.cleanups.push(() => mo.disconnect());

    this.listen("change:graph", () => this.onGraph());
    this.listen("change:selection", () => {
      if (this.dirty.has("selection")) return;
      const next = [...(this.model.get("selection") ?? [])];
      if (!sameIds(next, this.selection)) {
        this.selection = next;
        this.showSelection();
      }
    });
    this.listen("change:expanded", () => {
      if (this.dirty.has("expanded")) return;
      const next = [...(this.model.get("expanded") ?? [])];
      if (!sameIds(next, this.expanded)) {
        this.expanded = next;
        this.relayout();
      }
    });
    for (const t of ["catalog", "history", "status"]) this.listen(`change:${t}`, () => this.updateToolbar());
    this.listen("change:target_preview", () => this.preview.render(this.model.get("target_preview")));
    this.listen("change:diff_view", () => this.refresh());
    this.listen("change:code_view", () => this.codePanel.update(this.model.get("code_view")));
    this.listen("change:param_report_view", () => this.reportPanel.update(this.model.get("param_report_view")));
    this.listen("change:overlays", () => this.refresh());
    this.listen("change:overlay_shown", () => {
      const name = this.model.get("overlay_shown") ?? "";
      if (name !== this.overlayName) {
        this.overlayName = name;
        this.refresh();
      }
    });
    this.listen("change:risk", () => {
      this.risk.update(this.model.get("risk") as Risk);
      this.refresh();
    });

    this.selection = [...(model.get("selection") ?? [])];
    this.expanded = [...(model.get("expanded") ?? [])];
    this.overlayName = model.get("overlay_shown") ?? "";
    this.view.resize(this.stage.clientWidth || el.clientWidth || 800, this.stage.clientHeight || 460);
    this.risk.resize((el.clientWidth || 800) - 18);
    this.risk.update(model.get("risk") as Risk);
    this.codePanel.update(model.get("code_view"));
    this.reportPanel.update(model.get("param_report_view"));
    this.onGraph();
  }

  private listen(event: string, fn: () => void): void {
    this.model.on(event, fn);
    this.cleanups.push(() => this.model.off(event, fn));
  }

  private onGraph(): void {
    this.index = indexGraph(asGraph(this.model.get("graph")));
    this.viewBar.find.setGraph(this.index.graph);
    this.relayout();
  }

  /** Starts a layout of what `expanded` makes visible; redraws with the old one meanwhile. */
  private relayout(anchor?: string): void {
    const vis = visibleGraph(this.index, this.expanded);
    this.vis = vis;
    const seq = ++this.layoutSeq;
    this.empty.textContent = vis.nodes.length ? "" : "No graph to show yet.";
    this.root.dataset.layout = "pending";
    // The old layout stays on screen until the new one arrives: only the toolbar changes now
    // (a full refresh would rewrite every row of the node mirror for nothing: 10k at 10k nodes).
    this.updateToolbar();
    const input = buildLayoutInput(vis, this.view.measure);
    // Same boxes and edges as the layout on screen (e.g. a patch only changed badges): reuse it.
    const key = JSON.stringify(input);
    if (this.layout && key === this.layoutKey) {
      this.root.dataset.layout = "ready";
      this.refresh(anchor);
      this.scrollToTarget();
      return;
    }
    if (!this.layout || this.provisional) {
      // Nothing on screen yet: paint a quick layout now (milliseconds, on the page), so the
      // collapsed graph shows while the worker starts and ELK lays it out.
      void this.quick.layout(input).then((layout) => {
        if (seq !== this.layoutSeq || this.root.dataset.layout === "ready") return;
        this.layout = layout;
        this.provisional = true;
        this.root.dataset.paint = "quick";
        this.refresh(anchor);
      });
    }
    this.client.layout(input).then(
      (layout) => {
        if (!layout || seq !== this.layoutSeq) return;
        if (this.provisional) this.view.refitNext();
        this.provisional = false;
        this.root.dataset.paint = "final";
        this.layout = layout;
        this.layoutKey = key;
        this.root.dataset.layout = "ready";
        this.root.dataset.layoutEngine = this.client.mode;
        const s = layout.stats;
        if (s) {
          // What this layout did, for tests and benchmarks: levels laid out now / from the cache.
          Object.assign(this.root.dataset, { layoutLevels: String(s.levels), layoutLaidOut: String(s.laidOut),
            layoutCached: String(s.cached), layoutMs: s.ms.toFixed(1) });
        }
        this.refresh(anchor);
        this.scrollToTarget();
        void this.lookahead(seq, vis);
      },
      (err: Error) => {
        if (seq !== this.layoutSeq) return;
        this.root.dataset.layout = "error";
        this.toolbar.showLocal({ level: "error", message: err.message });
      },
    );
  }

  /**
   * Once a layout is on screen: lays out the insides of its collapsed groups in idle time
   * (lookahead.ts), so that the first expand of each group shape finds it in the worker's
   * cache. `data-lookahead` says where that stands, for tests and benchmarks.
   */
  private async lookahead(seq: number, vis: VisibleGraph): Promise<void> {
    const stale = () => seq !== this.layoutSeq;
    const t0 = performance.now();
    this.root.dataset.lookahead = "scanning";
    const open = new Set(vis.containers);
    const collapsed = vis.nodes.filter((n) => isGroup(n) && !open.has(n.id)).map((n) => n.id);
    const inputs = await lookaheadInputs(this.index, collapsed, this.view.measure, { stale });
    if (inputs === null || stale()) return;
    this.root.dataset.lookahead = "running";
    const done = await this.client.lookahead(inputs);
    if (stale()) return;
    Object.assign(this.root.dataset, { lookahead: "done", lookaheadShapes: String(done),
      lookaheadMs: (performance.now() - t0).toFixed(0) });
  }

  /** Redraws with the current state (no new layout). */
  private refresh(anchor?: string): void {
    this.updateToolbar();
    if (!this.layout || !this.vis) return;
    const shown = pruneSelection(this.index, this.selection);
    const selection = new Set(shown);
    const holdsSelection = new Set<string>();
    for (const id of shown) {
      const rep = this.vis.rep.get(id);
      if (rep !== undefined && rep !== id) holdsSelection.add(rep);
    }
    const layerRisk = ((this.model.get("risk") ?? {}) as Risk).layer_risk ?? {};
    const max = Math.max(0, ...Object.values(layerRisk).filter(Number.isFinite));
    const risk = new Map<string, number>();
    if (max > 0) for (const [id, v] of Object.entries(layerRisk)) risk.set(id, v / max);
    const index = this.index;
    const overlay = nodeMarks(this.preview.highlighted(), this.viewBar.find.hits(),
      this.model.get("diff_view"), this.vis.rep);
    const values = this.values(this.vis);
    const scene: Scene = {
      layout: this.layout,
      node: (id) => index.byId.get(id),
      selection,
      descendantPatches: index.descendantPatches,
      holdsSelection,
      risk,
      provisional: this.provisional,
      overlay,
      values: values ?? undefined,
    };
    this.view.setScene(scene, anchor);
    this.renderLegend();
    this.details.update(this.index, shown);
  }

  /** The overlay shown, if any (scene_marks.ts); the picker and the legend follow it. */
  private values(vis: VisibleGraph): Scene["values"] | null {
    const risk = (this.model.get("risk") ?? {}) as Risk;
    const { bg, dark } = this.view.theme;
    const m = this.overlays.get(this.index, risk.layer_risk, this.model.get("overlays"), vis, this.overlayName, bg, dark);
    this.viewBar.setChoices(m.names, m.name);
    const ds = this.root.dataset;
    if (ds.dark !== String(dark)) ds.dark = String(dark); // only on a change: a write restyles
    if (ds.overlay !== m.name) ds.overlay = m.name;
    this.viewBar.renderLegend({ families: m.families, overlay: m.shown?.legend ?? null, bg, dark });
    return m.shown?.values ?? null;
  }

  /** The user picked an overlay ("" for the families): shown now, written to the trait. */
  private setOverlay(name: string): void {
    if (name === this.overlayName) return;
    this.overlayName = name;
    this.model.set("overlay_shown", name);
    this.model.save_changes();
    this.refresh();
  }

  /** Find stepped to `id`: expand the groups holding it, select it, centre it. */
  private goTo(id: string): void {
    if (!this.index.byId.has(id)) return;
    this.selection = [id];
    this.save("selection");
    this.scrollTarget = id;
    this.centreTarget = true;
    const open = reveal(this.index, this.expanded, [id]);
    if (!sameIds(open, this.expanded)) {
      this.setExpanded(open); // centred once the new layout is on screen
      return;
    }
    this.refresh();
    this.scrollToTarget();
  }

  /** An arrow key with one node selected: the selection moves along the edges (navigate.ts). */
  private arrow(key: string): boolean {
    const shown = pruneSelection(this.index, this.selection);
    if (shown.length !== 1 || !this.vis || !this.layout || !ARROWS[key]) return false;
    const next = neighbour(this.layout.boxes, this.vis.edges, shown[0], ARROWS[key]);
    if (next !== null) {
      this.setSelection([next]);
      this.view.reveal(next);
    }
    return true;
  }

  /** Enter with one group selected: expand it, or collapse it. */
  private enter(): boolean {
    const shown = pruneSelection(this.index, this.selection);
    if (shown.length !== 1 || !isGroup(this.index.byId.get(shown[0]))) return false;
    this.setExpanded(toggleExpanded(this.index, this.expanded, shown[0]), shown[0]);
    return true;
  }

  private renderLegend(): void {
    renderPatchLegend(this.legend, this.index.graph.nodes);
  }

  private updateToolbar(): void {
    const catalog = this.model.get("catalog") ?? {};
    const selection = pruneSelection(this.index, this.selection);
    const typed = this.preview.targets(); // Apply patches a typed target's matches
    const history = this.model.get("history") ?? { entries: [], index: 0 };
    this.diffPanel.update(history, this.model.get("diff_view") ?? {});
    this.toolbar.update({
      catalog,
      kinds: validKinds(catalog, this.index, Array.isArray(typed) ? typed : selection),
      selectionCount: selection.length,
      history: this.model.get("history") ?? { entries: [], index: 0 },
      status: this.model.get("status") ?? { level: "idle", message: "" },
    });
  }

  /**
   * A selection that came from Python (`editor.select(...)`): expand every group holding a
   * selected node, so that it is drawn, then scroll to the first one once laid out.
   */
  private showSelection(): void {
    const shown = pruneSelection(this.index, this.selection);
    this.scrollTarget = shown[0] ?? null;
    this.centreTarget = false;
    const open = reveal(this.index, this.expanded, shown);
    if (!sameIds(open, this.expanded)) {
      this.setExpanded(open); // a new layout; scrollToTarget runs when it is ready
      return;
    }
    this.refresh();
    this.scrollToTarget();
  }

  private scrollToTarget(): void {
    const id = this.scrollTarget;
    if (id === null || this.root.dataset.layout !== "ready") return;
    this.scrollTarget = null;
    if (this.centreTarget) this.view.centre(id);
    else this.view.reveal(id);
    this.centreTarget = false;
  }

  private setSelection(ids: string[]): void {
    if (sameIds(ids, this.selection)) return;
    this.selection = ids;
    this.save("selection");
    this.refresh();
  }

  private setExpanded(ids: string[], anchor?: string): void {
    if (sameIds(ids, this.expanded)) return;
    this.expanded = ids;
    this.save("expanded");
    this.relayout(anchor);
  }

  private save(key: "selection" | "expanded"): void {
    this.dirty.add(key);
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.flush(), SAVE_DELAY_MS);
  }

  /** Writes pending trait changes now (before a message that depends on them). */
  private flush(): void {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.dirty.size) return;
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const k of keys) this.model.set(k, k === "selection" ? [...this.selection] : [...this.expanded]);
    this.model.save_changes();
  }

  private send(msg: OutMessage): void {
    // Messages carry what they act on ("apply" its targets); the view state goes first
    // anyway, so that Python's `selection` and `expanded` show what the page shows.
    this.flush();
    this.toolbar.showLocal(null);
    this.model.send(msg);
  }

  dispose(): void {
    this.flush();
    for (const c of this.cleanups.splice(0)) c();
    this.client.dispose();
    this.view.dispose();
    this.risk.dispose();
    this.preview.dispose();
    this.viewBar.dispose();
    this.root.remove();
  }
}

function render({ model, el }: RenderProps<WidgetState>): () => void {
  const editor = new Editor(model, el);
  return () => editor.dispose();
}

export default { render };
