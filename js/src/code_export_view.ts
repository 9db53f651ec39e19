// The code panel: Python answers an `export_code` message (the toolbar's Code button) in the
// `code_view` trait with the editor's history as a runnable script (code_export.py). This
// module shows it read-only with Copy and Close; it knows no Keras.
import type { CodeViewState, OutMessage } from "./types";

type View = CodeViewState | Record<string, never> | null | undefined;

/** Whether the trait holds a script to show (an empty `{}` is a closed panel). */
export function codeShown(v: View): v is CodeViewState {
  return !!v && typeof (v as CodeViewState).code === "string";
}

/** The line above the script: "2 patches · written to patched.py" (or the error). */
export function codeInfo(v: View): string {
  if (!codeShown(v)) return "";
  if (v.error) return v.error;
  const n = v.patches ?? 0;
  const what = `${n} patch${n === 1 ? "" : "es"} · ${v.code.split("\n").filter((l) => l.trim()).length} lines`;
  return v.path ? `${what} · written to ${v.path}` : `${what} · not written to a file`;
}

/** The subset of `navigator.clipboard` the panel uses. */
export interface ClipboardLike {
  writeText(text: string): Promise<void>;
}

/**
 * Copies `text` to `clipboard` when there is one and it accepts; otherwise (no clipboard:
 * an insecure or headless page; or a refusal) calls `select()` so the user can press
 * Ctrl-C. Resolves to how it went.
 */
export async function copyText(text: string, clipboard: ClipboardLike | undefined | null,
  select: () => void): Promise<"clipboard" | "selected"> {
  if (clipboard && typeof clipboard.writeText === "function") {
    try {
      await clipboard.writeText(text);
      return "clipboard";
    } catch {
      // refused (no permission, page not focused): fall back to selecting
    }
  }
  select();
  return "selected";
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The panel under the toolbar: info line, Copy, Close and the script (hidden when closed). */
export class CodePanel {
  readonly el: HTMLElement;
  private info = h("span", { "data-role": "code-info", class: "rw-muted" });
  private copyBtn = h("button", { type: "button", class: "rw-btn", "data-role": "code-copy", title: "copy the script" }, "Copy");
  private closeBtn = h("button", { type: "button", class: "rw-btn", "data-role": "code-close", title: "close the code panel" }, "Close");
  private text = h("textarea", { "data-role": "code-text", class: "rw-code", readonly: "", spellcheck: "false",
    "aria-label": "exported Python code", rows: "8" });

  constructor(private readonly send: (msg: OutMessage) => void) {
    this.el = h("div", { class: "rw-code-panel", "data-role": "code-panel" });
    this.el.hidden = true;
    const bar = h("div", { class: "rw-row" });
    bar.append(h("strong", {}, "Python code"), this.info, this.copyBtn, this.closeBtn);
    this.el.append(bar, this.text);
    this.copyBtn.addEventListener("click", () => {
      const clip = typeof navigator !== "undefined" ? navigator.clipboard : undefined;
      void copyText(this.text.value, clip, () => {
        this.text.focus();
        this.text.select();
      }).then((how) => {
        this.el.dataset.copied = how;
        this.copyBtn.textContent = how === "clipboard" ? "Copied" : "Selected: press Ctrl-C";
      });
    });
    this.closeBtn.addEventListener("click", () => this.send({ type: "code_close" }));
  }

  /** The `code_view` trait changed. */
  update(v: View): void {
    const shown = codeShown(v);
    this.el.hidden = !shown;
    const code = shown ? v.code : "";
    if (this.text.value !== code) {
      this.text.value = code;
      delete this.el.dataset.copied;
      this.copyBtn.textContent = "Copy";
    }
    this.info.textContent = codeInfo(v);
    this.el.dataset.patches = shown ? String(v.patches ?? 0) : "";
    this.el.dataset.path = shown ? v.path ?? "" : "";
    this.el.dataset.error = String(shown && !!v.error);
  }
}
