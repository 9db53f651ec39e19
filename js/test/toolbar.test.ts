import { describe, expect, it } from "vitest";
import { applyMessage, paramControl, paramInput, parseParam } from "../src/toolbar";
import type { CatalogEntry, CatalogParam } from "../src/types";

// Parameter specs as the `catalog` trait sends them (risk_widgets/params.py).
const rank: CatalogParam = { name: "rank", type: "int", default: 8, min: 1, max: 1024, optional: false, help: "rank of the low-rank update" };
const alpha: CatalogParam = { name: "alpha", type: "float", min: 0, optional: true, help: "scale; defaults to rank" };
const dropout: CatalogParam = { name: "dropout", type: "float", default: 0, min: 0, max: 1, max_exclusive: true, optional: false, help: "dropout on the adapter input" };
const LORA: CatalogEntry = { label: "LoRA", targets: "layers", params: [rank, alpha, dropout] };

describe("applyMessage", () => {
  it("carries the targets with the kind and the typed parameters", () => {
    expect(applyMessage("lora", LORA, { rank: "4", alpha: "", dropout: "0.1" }, ["block_0/mlp/up", "head"])).toEqual({
      type: "apply", kind: "lora", params: { rank: 4, alpha: null, dropout: 0.1 }, targets: ["block_0/mlp/up", "head"],
    });
  });
  it("sends an empty target list for a model-wide patch without a selection", () => {
    const vote: CatalogEntry = { label: "Vote", targets: "model", params: [{ name: "n_voters", type: "int", default: 5, min: 2, max: 64 }] };
    expect(applyMessage("vote", vote, {}, [])).toEqual({ type: "apply", kind: "vote", params: { n_voters: 5 }, targets: [] });
  });
  it("copies the targets (later selection changes do not reach a sent message)", () => {
    const targets = ["head"];
    const msg = applyMessage("lora", LORA, {}, targets);
    targets.push("x");
    expect("targets" in msg && msg.targets).toEqual(["head"]);
  });
  it("reports a value that is not a number, naming the kind", () => {
    expect(applyMessage("lora", LORA, { rank: "four" }, ["head"])).toEqual({ error: "LoRA: `rank` must be a number. Received: four" });
  });
});

describe("paramInput", () => {
  it("takes limits, step, placeholder and tooltip from the catalog's spec", () => {
    expect(paramInput(rank)).toEqual({
      min: "1", max: "1024", step: "1", placeholder: "8", title: "rank of the low-rank update (1 ≤ rank ≤ 1024)",
    });
  });
  it("leaves an exclusive maximum to Python and says it in the tooltip", () => {
    expect(paramInput(dropout)).toEqual({
      min: "0", max: undefined, step: "any", placeholder: "0", title: "dropout on the adapter input (0 ≤ dropout < 1)",
    });
  });
  it("shows optional parameters as auto and one-sided limits as such", () => {
    expect(paramInput(alpha)).toEqual({
      min: "0", max: undefined, step: "any", placeholder: "auto", title: "scale; defaults to rank (alpha ≥ 0)",
    });
  });
});

// bool / choice specs as params.py sends them (use_rslora, init)
const rslora: CatalogParam = { name: "use_rslora", type: "bool", default: false, optional: false, help: "rsLoRA" };
const init: CatalogParam = { name: "init", type: "choice", default: "he_uniform", optional: false, help: "init of A, B", choices: ["he_uniform", "gaussian", "pissa"] };

describe("bool and choice parameters", () => {
  it("render as a checkbox and a select with the catalog's choices", () => {
    expect(paramControl(rslora)).toEqual({
      tag: "input", value: "false",
      attrs: { "data-param": "use_rslora", "aria-label": "use_rslora", title: "rsLoRA", class: "rw-check-input", type: "checkbox" },
    });
    const select = paramControl(init, "pissa");
    expect(select.tag).toBe("select");
    expect(select.options).toEqual(["he_uniform", "gaussian", "pissa"]);
    expect(select.value).toBe("pissa");
    expect(paramControl(rank).attrs.type).toBe("number");
  });
  it("send typed values: a boolean and one of the choices", () => {
    const entry: CatalogEntry = { label: "LoRA", targets: "layers", params: [rank, rslora, init] };
    expect(applyMessage("lora", entry, { rank: "4", use_rslora: "true", init: "gaussian" }, ["head"])).toEqual({
      type: "apply", kind: "lora", params: { rank: 4, use_rslora: true, init: "gaussian" }, targets: ["head"],
    });
    expect(applyMessage("lora", entry, {}, ["head"])).toEqual({
      type: "apply", kind: "lora", params: { rank: 8, use_rslora: false, init: "he_uniform" }, targets: ["head"],
    });
  });
  it("refuse a value outside the choices, naming the allowed ones", () => {
    expect(parseParam(init, "svd")).toEqual({ error: "`init` must be one of he_uniform, gaussian, pissa. Received: svd" });
    expect(parseParam(rslora, "yes")).toEqual({ error: "`use_rslora` must be true or false. Received: yes" });
  });
});

// rank / alpha take per-path patterns (params.py: "patterns": true)
const rankPatterns: CatalogParam = { ...rank, patterns: true };

describe("per-path patterns", () => {
  it("parse 'glob: value, ...' into an object, each value checked like the parameter", () => {
    expect(parseParam(rankPatterns, "*/attn/*: 8, *: 4")).toEqual({ value: { "*/attn/*": 8, "*": 4 } });
    expect(parseParam(rankPatterns, "4")).toEqual({ value: 4 });
    expect(parseParam(rankPatterns, "*/attn/*: 2.5")).toEqual({ error: "`rank` must be an integer. Received: 2.5 (for */attn/*)" });
    expect(parseParam(rankPatterns, "*/attn/*: 8, 4")).toEqual({
      error: '`rank` patterns read "glob: value, glob: value" (e.g. */attn/*: 8, *: 4). Received: 4',
    });
    expect(parseParam(rank, "*: 4")).toEqual({ error: "`rank` must be a number. Received: *: 4" });
  });
  it("render as a text field that says how to type them", () => {
    const control = paramControl(rankPatterns);
    expect(control.attrs.type).toBe("text");
    expect(control.attrs.title).toContain("per path: */attn/*: 8, *: 4");
    expect(control.value).toBe("8");
  });
});
