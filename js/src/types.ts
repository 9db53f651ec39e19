// Interfaces mirroring the widget's traits (docs/architecture.md, "Graph JSON" and
// "Widget traits and messages") and the one tagged union of messages sent to Python.

/** One shape (null for unknown dims) or a list of shapes for multi-output layers. */
export type Shape = (number | null)[] | (number | null)[][] | null;

export type NodeKind = "input" | "layer" | "group" | "output";

export interface Patch {
  kind: string;
  params: Record<string, unknown>;
}

/** One of a node's patches (`patches` in the graph JSON): several adapters can stack. */
export interface PatchMark extends Patch {
  /** The adapter's name ("default", "task_b"); null for patches without names (risk). */
  name: string | null;
  /** False for an adapter switched off with `rw.set_active` (it adds nothing). */
  active: boolean;
}

/** One weight of a layer (`weights` in the graph JSON). */
export interface WeightInfo {
  name: string;
  shape: number[];
  dtype: string;
  /** Whether the model as a whole trains it. */
  trainable: boolean;
}

export interface GraphNode {
  id: string;
  name: string;
  class_name: string;
  kind: NodeKind;
  parent: string | null;
  /** Layer family for the colours (graph/details.py FAMILIES); absent in old graphs. */
  family?: string;
  input_shape?: Shape;
  output_shape: Shape;
  /** Key config fields (units, filters, kernel_size, num_heads, activation, dtype, ...). */
  config?: Record<string, unknown>;
  /** The layer's weights (leaves only), at most 16; `weights_more` counts the rest. */
  weights?: WeightInfo[];
  weights_more?: number;
  params: number;
  trainable_params: number;
  patch: Patch | null;
  /** Every patch of the node, in order (absent in old graphs: then `patch` alone). */
  patches?: PatchMark[];
  patchable: string[];
  opaque: boolean;
}

export interface GraphEdge {
  source: string;
  target: string;
}

export interface Graph {
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface CatalogParam {
  name: string;
  /** `bool`: a checkbox; `choice`: a select over `choices`; `str`: a text field (a name). */
  type: "int" | "float" | "bool" | "choice" | "str" | string;
  default?: number | boolean | string | null;
  min?: number;
  max?: number;
  /** `max` itself is not allowed (a dropout rate is in [0, 1)). */
  max_exclusive?: boolean;
  optional?: boolean;
  help?: string;
  /** The allowed values of a `choice` parameter. */
  choices?: string[];
  /** A number may also be typed per path: "glob: value, glob: value". */
  patterns?: boolean;
}

/** A parameter's value in an "apply" message. */
export type ParamValue = number | boolean | string | null | Record<string, number>;

export interface CatalogEntry {
  label: string;
  /** "layers": needs a selection; "model": selection optional. */
  targets: "layers" | "model";
  help?: string;
  params: CatalogParam[];
}

export type Catalog = Record<string, CatalogEntry>;

export interface HistoryEntry {
  kind: string;
  params: Record<string, unknown>;
  targets: string[] | null;
  label: string;
}

export interface History {
  entries: HistoryEntry[];
  index: number;
}

export interface Status {
  level: "idle" | "busy" | "info" | "error";
  message: string;
  /** Share of a long task done, 0..1 (e.g. epochs trained / epochs asked for). */
  progress?: number;
}

/** Binary arrays arrive as DataView (ipywidgets buffers); accept the other views too. */
export type Buffer = DataView | ArrayBuffer | ArrayBufferView
  /** a transport that sends bytes as text (older marimo: nested bytes as base64) */
  | string
  /** or as their byte values */
  | number[];

export interface RiskSummary {
  mean_risk?: number | null;
  nll?: number | null;
  calibration_error?: number | null;
}

/** The `calibration` entry of the risk payload (live.calibration_view). */
export type Calibration = (
  | { kind: "regression"; nominal: number[]; observed: number[]; nll: number;
      calibration_error: number }
  | { kind: "classification"; ece: number; nll: number; brier: number; accuracy: number;
      bins: { edges: number[]; count: number[]; confidence: (number | null)[];
              accuracy: (number | null)[] } }
  | { kind: "none"; reason: string }
) & { /** AUROC of mean risk, OOD probes vs sample data (null: the model has no risk). */
  ood_auroc?: number | null };

export interface Risk {
  mode?: "bands" | "per_sample";
  x?: Buffer | null;
  y_pred?: Buffer | null;
  std?: Buffer | null;
  y_true?: Buffer | null;
  n?: number;
  epoch?: number | null;
  /** Total epochs of the running fit, when known (sent by live.py; optional). */
  epochs?: number | null;
  loss?: number[];
  summary?: RiskSummary;
  layer_risk?: Record<string, number>;
  calibration?: Calibration | null;
  /** Training rows drawn as dots on the bands plot (live.points_view); absent: none. */
  points?: { x: Buffer; y: Buffer; n: number } | null;
  /** Held-out scores of the running fit, one entry per epoch (live.held_out_view). */
  held_out?: HeldOut | null;
  error?: string | null;
}

/** Held-out NLL and coverage of the central `nominal` interval, per epoch, and the
 * training rows' coverage; `parted`: the two differ by more than chance (overconfident). */
export interface HeldOut {
  nominal: number;
  val_nll: number[];
  val_coverage: number[];
  train_coverage: number[];
  gap: number | null;
  parted: boolean;
}

/** What one rule of a typed target matched (`target_preview.rules`, targets.py). */
export interface PreviewRule {
  rule: string;
  count: number;
  paths: string[];
  /** One entry per family of repeated blocks the rule reaches. */
  blocks: { parent: string | null; total: number; count: number; hit: string[]; missed: string[] }[];
  exact: boolean;
  error: string | null;
  /** "4 layers, 2 of 24 blocks" / "no match". */
  summary: string;
}

/** The `target_preview` trait: what the typed target matches ({} when nothing is typed). */
export interface TargetPreviewState {
  targets: string;
  /** The number of the `preview` message this answers (stale replies are dropped). */
  seq: number | null;
  paths: string[];
  count: number;
  total: number | null;
  rules: PreviewRule[];
  warnings: string[];
  error: string | null;
}

/** The `diff_view` trait: a patch diff (patch_diff.py) between history positions i and j. */
export interface DiffViewState {
  i?: number;
  j?: number;
  /** Labels of positions i and j ("original", "1. LoRA(rank=4) on head"). */
  labels?: [string, string];
  /** Number of history entries (positions run 0..count). */
  count?: number;
  added?: string[];
  removed?: string[];
  changed?: string[];
  reasons?: Record<string, string[]>;
  classes?: Record<string, [string | null, string | null]>;
  trainable?: Record<string, [number | null, number | null]>;
  trainable_before?: number;
  trainable_after?: number;
  trainable_delta?: number;
  output?: {
    max_abs: number | null; mean_abs: number | null; n: number;
    risk_before: number | null; risk_after: number | null;
    per_output: { max_abs: number | null; mean_abs: number | null; shape: number[] }[];
  } | null;
  output_error?: string | null;
  error?: string | null;
}

/** The `code_view` trait: the exported script (widget_panels.py code_payload). */
export interface CodeViewState {
  code: string;
  /** Where the script was written; null: shown only. */
  path: string | null;
  /** History entries the script applies. */
  patches: number;
  error: string | null;
}

/** One adapter row of the parameter report (engine/param_report.py AdapterRow). */
export interface ReportAdapter {
  path: string;
  kind: string;
  /** null for unnamed patches (risk layers, Keras' own LoRA). */
  name: string | null;
  active: boolean;
  trainable: number;
}

/** One top-level block of the parameter report (BlockRow). */
export interface ReportBlock {
  name: string;
  trainable: number;
  total: number;
}

/** The `param_report_view` trait (widget_panels.py report_payload). */
export interface ParamReportState {
  trainable?: number;
  total?: number;
  /** trainable / total (0 without weights). */
  fraction?: number;
  adapters?: ReportAdapter[];
  blocks?: ReportBlock[];
  error?: string | null;
}

/** One per-layer overlay of the `overlays` trait (`editor.overlay(name, values)`). */
export interface OverlayData {
  /** Layer path -> number. A group without its own value shows its children's `agg`. */
  values: Record<string, number>;
  agg: "sum" | "max";
}

/** All synced traits of the GraphEditor widget. */
export interface WidgetState {
  graph: Graph | Record<string, never>;
  catalog: Catalog;
  selection: string[];
  expanded: string[];
  history: History;
  status: Status;
  risk: Risk | Record<string, never>;
  target_preview: TargetPreviewState | Record<string, never>;
  diff_view: DiffViewState | Record<string, never>;
  code_view: CodeViewState | Record<string, never>;
  param_report_view: ParamReportState | Record<string, never>;
  /** Overlays sent from Python (editor.overlay, the gradient norm after editor.fit). */
  overlays?: Record<string, OverlayData>;
  /** The overlay shown ("" for the layer families); written by both sides (editor.overlay). */
  overlay_shown?: string;
}

/** Every message the front end sends to Python (one tagged union). */
export type OutMessage =
  /** `targets`: the node ids to patch (the selection shown when Apply was pressed). */
  | { type: "apply"; kind: string; params: Record<string, ParamValue>; targets: string[] }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "reset" }
  | { type: "export"; path: string; fold: boolean }
  | { type: "export_svg"; path: string }
  | { type: "export_html"; path: string }
  /** What the typed target matches (answered in `target_preview`, with the same `seq`). */
  | { type: "preview"; targets: string; seq: number }
  /** A diff between history positions i and j (null: current vs previous entry). */
  | { type: "diff"; i: number | null; j: number | null }
  | { type: "diff_close" }
  /** The history as a script (answered in `code_view`); written to `path` (.py) if given. */
  | { type: "export_code"; path?: string }
  | { type: "code_close" }
  /** The parameter report (answered in `param_report_view`). */
  | { type: "param_report" }
  | { type: "param_report_close" }
  /** Makes these adapters active, every other one inactive (null: all). */
  | { type: "set_active"; names: string[] | null };
