import { describe, expect, it } from "vitest";
import { applyMessage, paramControl, parseParam } from "../src/toolbar";
import type { CatalogEntry, CatalogParam } from "../src/types";

// The `name` spec as the catalog trait sends it (risk_widgets/params.py PARAMS["name"]).
const NAME: CatalogParam = { name: "name", type: "str", optional: true, help: "adapter name; empty: automatic" };
const SVF: CatalogEntry = { label: "SVF", targets: "layers", params: [NAME] };

describe("a str parameter (the adapter name)", () => {
  it("is a text field, 'auto' when empty", () => {
    expect(paramControl(NAME)).toEqual({
      tag: "input", value: "",
      attrs: { "data-param": "name", "aria-label": "name", title: NAME.help, class: "rw-input rw-name", type: "text", placeholder: "auto", spellcheck: "false" },
    });
    expect(paramControl(NAME, "task_a").value).toBe("task_a");
  });
  it("sends the trimmed text, or null when empty (Python checks the name)", () => {
    expect(parseParam(NAME, "  task_a ")).toEqual({ value: "task_a" });
    expect(parseParam(NAME, "")).toEqual({ value: null });
    expect(parseParam({ ...NAME, optional: false }, "")).toEqual({ error: "`name` is required." });
    expect(applyMessage("svf", SVF, { name: "b" }, ["head"])).toEqual({ type: "apply", kind: "svf", params: { name: "b" }, targets: ["head"] });
    expect(applyMessage("svf", SVF, {}, ["head"])).toEqual({ type: "apply", kind: "svf", params: { name: null }, targets: ["head"] });
  });
});
