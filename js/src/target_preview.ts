// The target field: the user types a target (path, glob, class name, comma list); after a
// pause a `preview` message goes to Python, whose answer (the `target_preview` trait) lists
// the matched node ids and per-rule counts. The canvas highlights the matches (not the
// selection), the counts show beside the field, a bad target shows its error inline, and
// Apply then patches the previewed ids. Knows nothing of Keras: only ids and counts.
import type { OutMessage, TargetPreviewState } from "./types";

/** Typing pauses this long before a preview is asked for. */
export const PREVIEW_DELAY_MS = 200;

/** What the page makes of a `target_preview` answer. */
export interface PreviewShown {
  /** The matched node ids (empty when stale, blank or in error). */
  ids: string[];
  /** One short line per rule, e.g. "*\/attn/query: 24 layers, 24 of 24 blocks". */
  counts: string[];
  /** The error text to show inline (a rule that matches nothing, an empty target, ...). */
  error: string | null;
  /** Warnings a patch of these targets would give (e.g. "matches 7 of 24 blocks"). */
  warnings: string[];
  /** True when the answer is for the text now in the field. */
  current: boolean;
}

/** Reads the trait: matches only when it answers the last request (`seq`) for `text`. */
export function readPreview(
  state: TargetPreviewState | Record<string, never> | null | undefined, text: string, seq: number,
): PreviewShown {
  const none: PreviewShown = { ids: [], counts: [], error: null, warnings: [], current: false };
  if (!text.trim()) return { ...none, current: true };
  if (!state || !("targets" in state) || state.targets !== text || (state.seq !== null && state.seq !== seq)) {
    return none;
  }
  const rules = state.rules ?? [];
  const errors = rules.filter((r) => r.error).map((r) => `${r.rule}: ${r.error}`);
  return {
    ids: [...(state.paths ?? [])],
    counts: rules.map((r) => `${r.rule}: ${r.summary}`),
    error: state.error ?? (errors.length ? errors.join(" ") : null),
    warnings: [...(state.warnings ?? [])],
    current: true,
  };
}

/** The line beside the field: "25 of 241 matched — head: 1 layer; Dense: 24 layers, 24 of 24 blocks". */
export function previewLine(shown: PreviewShown, total: number | null): string {
  if (!shown.current) return "…";
  if (!shown.counts.length && !shown.error) return "";
  const of = total ? ` of ${total}` : "";
  return `${shown.ids.length}${of} matched — ${shown.counts.join("; ")}`;
}

/** Apply's targets for the text in the field and its preview (see `TargetPreview.targets`). */
export function applyTargets(text: string, shown: PreviewShown): string[] | { error: string } | null {
  if (!text.trim()) return null;
  if (!shown.current) return { error: "Target: the preview of the typed target is on its way; try again in a moment." };
  if (shown.error) return { error: `Target: ${shown.error} Fix the target, or clear it to patch the selection.` };
  if (!shown.ids.length) return { error: "Target: it matches no layer. Fix the target, or clear it to patch the selection." };
  return [...shown.ids];
}

type Timer = ReturnType<typeof setTimeout>;

/** Sends one `preview` per pause in typing, numbered; the last number is the one to show. */
export class PreviewRequester {
  seq = 0;
  private timer: Timer | null = null;

  constructor(
    private readonly send: (msg: OutMessage) => void,
    private readonly delay = PREVIEW_DELAY_MS,
    // wrapped: a browser's setTimeout called as a method of another object throws "Illegal invocation"
    private readonly timers: { set: (f: () => void, ms: number) => Timer; clear: (t: Timer) => void } = {
      set: (f, ms) => setTimeout(f, ms), clear: (t) => clearTimeout(t),
    },
  ) {}

  /** The field changed: (re)start the pause; blank text is sent at once (clears the preview). */
  typed(text: string): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    const go = () => {
      this.timer = null;
      this.seq += 1;
      this.send({ type: "preview", targets: text, seq: this.seq });
    };
    if (!text.trim()) go();
    else this.timer = this.timers.set(go, this.delay);
  }

  /** True while a request waits for its pause to end. */
  get pending(): boolean {
    return this.timer !== null;
  }

  dispose(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The target field with its counts and error line (a toolbar row). */
export class TargetPreview {
  readonly el: HTMLElement;
  private input: HTMLInputElement;
  private counts: HTMLElement;
  private errorEl: HTMLElement;
  private requester: PreviewRequester;
  private shown: PreviewShown = { ids: [], counts: [], error: null, warnings: [], current: true };

  /** `changed` runs whenever the matches to highlight change. */
  constructor(send: (msg: OutMessage) => void, private readonly changed: () => void) {
    this.requester = new PreviewRequester(send);
    this.el = h("div", { class: "rw-row rw-target-row" });
    this.input = h("input", {
      "data-role": "target-input", class: "rw-input rw-target", type: "text", spellcheck: "false",
      placeholder: "targets: */attn/query, Dense, block_0/mlp/*",
      title: "type a path, glob, layer class or comma list: the graph shows what it matches; Apply patches them",
      "aria-label": "target to preview",
    });
    const clear = h("button", { type: "button", class: "rw-btn", "data-role": "target-clear", title: "clear the target" }, "×");
    this.counts = h("span", { "data-role": "target-counts", class: "rw-muted rw-target-counts" });
    this.errorEl = h("span", { "data-role": "target-error", class: "rw-target-error" });
    this.el.append(this.input, clear, this.counts, this.errorEl);
    this.input.addEventListener("input", () => {
      this.requester.typed(this.input.value);
      this.render(null);
    });
    clear.addEventListener("click", () => {
      this.input.value = "";
      this.requester.typed("");
      this.render(null);
    });
  }

  /** The ids to highlight (empty while the field is blank, stale or in error). */
  highlighted(): string[] {
    return this.shown.current && !this.shown.error ? this.shown.ids : [];
  }

  /**
   * What Apply patches while the field is used: the previewed ids, or why not (an error, a
   * preview still on its way); null when the field is blank (Apply uses the selection).
   */
  targets(): string[] | { error: string } | null {
    return applyTargets(this.input.value, this.shown);
  }

  /** The `target_preview` trait changed (or the field did: `state` null). */
  render(state: TargetPreviewState | Record<string, never> | null): void {
    if (state && "targets" in state && state.seq === null && state.targets !== this.input.value) {
      this.input.value = state.targets; // a preview asked for from Python (editor.preview)
    }
    const next = readPreview(state ?? this.last, this.input.value, this.requester.seq);
    if (state !== null) this.last = state;
    const before = this.shown.ids.join("\u0000");
    this.shown = next;
    const total = this.last && "total" in this.last ? this.last.total : null;
    this.counts.textContent = previewLine(next, total);
    this.counts.title = next.warnings.join("\n");
    this.counts.dataset.count = String(next.ids.length);
    this.counts.dataset.current = String(next.current);
    this.counts.dataset.warn = String(next.warnings.length > 0);
    this.errorEl.textContent = next.current ? next.error ?? "" : "";
    if (state !== null || before !== next.ids.join("\u0000")) this.changed();
  }
  private last: TargetPreviewState | Record<string, never> | null = null;

  dispose(): void {
    this.requester.dispose();
  }
}
