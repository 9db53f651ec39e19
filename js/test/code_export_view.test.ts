import { describe, expect, it } from "vitest";
import { codeInfo, codeShown, copyText } from "../src/code_export_view";
import { codeMessage } from "../src/toolbar";
import type { CodeViewState } from "../src/types";

// A `code_view` answer as risk_widgets.widget_panels.code_payload sends it.
const VIEW: CodeViewState = {
  code: "# Reproduces ...\nimport risk_widgets as rw\n\nmodel = rw.add_lora(model, targets=['head'], rank=4)\n",
  path: "patched.py", patches: 1, error: null,
};

describe("codeShown / codeInfo", () => {
  it("shows a script with its patch count, lines and file", () => {
    expect(codeShown(VIEW)).toBe(true);
    expect(codeInfo(VIEW)).toBe("1 patch · 3 lines · written to patched.py");
    expect(codeInfo({ ...VIEW, path: null, patches: 2 })).toBe("2 patches · 3 lines · not written to a file");
  });
  it("an empty trait is a closed panel; an error is shown instead", () => {
    expect(codeShown({})).toBe(false);
    expect(codeShown(null)).toBe(false);
    expect(codeInfo({})).toBe("");
    expect(codeInfo({ ...VIEW, code: "", error: "Patch kind 'x' cannot be exported" })).toBe("Patch kind 'x' cannot be exported");
  });
});

describe("copyText", () => {
  it("uses the clipboard when it accepts", async () => {
    const written: string[] = [];
    let selected = 0;
    const how = await copyText("abc", { writeText: async (t) => { written.push(t); } }, () => { selected++; });
    expect([how, written, selected]).toEqual(["clipboard", ["abc"], 0]);
  });
  it("selects the text without a clipboard (insecure or headless page) or when refused", async () => {
    let selected = 0;
    expect(await copyText("abc", undefined, () => { selected++; })).toBe("selected");
    const refusing = { writeText: async () => { throw new Error("NotAllowedError"); } };
    expect(await copyText("abc", refusing, () => { selected++; })).toBe("selected");
    expect(selected).toBe(2);
  });
});

describe("codeMessage", () => {
  it("writes next to the export path as .py; an empty path only shows", () => {
    expect(codeMessage("patched.keras")).toEqual({ type: "export_code", path: "patched.py" });
    expect(codeMessage(" out/model.v2.keras ")).toEqual({ type: "export_code", path: "out/model.v2.py" });
    expect(codeMessage("noext")).toEqual({ type: "export_code", path: "noext.py" });
    expect(codeMessage("  ")).toEqual({ type: "export_code" });
  });
});
