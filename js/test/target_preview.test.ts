import { describe, expect, it, vi } from "vitest";
import { applyTargets, PreviewRequester, previewLine, readPreview } from "../src/target_preview";
import type { OutMessage, TargetPreviewState } from "../src/types";

// A `target_preview` answer as risk_widgets.targets.preview_json sends it.
const ANSWER: TargetPreviewState = {
  targets: "*/dense, head", seq: 3, paths: ["block_0/dense", "head"], count: 2, total: 241,
  rules: [
    { rule: "*/dense", count: 1, paths: ["block_0/dense"], exact: false, error: null, summary: "1 layer, 1 of 24 blocks",
      blocks: [{ parent: null, total: 24, count: 1, hit: ["block_0"], missed: ["block_1"] }] },
    { rule: "head", count: 1, paths: ["head"], exact: true, error: null, summary: "1 layer", blocks: [] },
  ],
  warnings: ["target '*/dense' matches 1 of 24 repeated blocks …"], error: null,
};

describe("readPreview", () => {
  it("shows the matches of the answer to the last request for the text in the field", () => {
    const shown = readPreview(ANSWER, "*/dense, head", 3);
    expect(shown).toEqual({
      ids: ["block_0/dense", "head"], counts: ["*/dense: 1 layer, 1 of 24 blocks", "head: 1 layer"],
      error: null, warnings: ANSWER.warnings, current: true,
    });
    expect(previewLine(shown, 241)).toBe("2 of 241 matched — */dense: 1 layer, 1 of 24 blocks; head: 1 layer");
  });
  it("drops a stale answer (older request, or other text)", () => {
    expect(readPreview(ANSWER, "*/dense, head", 4).current).toBe(false);
    expect(readPreview(ANSWER, "*/dense", 3)).toMatchObject({ ids: [], current: false });
    expect(previewLine(readPreview(ANSWER, "*/dense", 3), 241)).toBe("…");
  });
  it("turns rules that match nothing and whole-text errors into the inline error", () => {
    const bad: TargetPreviewState = { ...ANSWER, targets: "nope", paths: [], rules: [
      { rule: "nope", count: 0, paths: [], exact: true, error: "No layer at path 'nope'.", summary: "no match", blocks: [] }] };
    expect(readPreview(bad, "nope", 3).error).toBe("nope: No layer at path 'nope'.");
    const empty = { ...ANSWER, targets: " , ", rules: [], paths: [], error: "The target is empty" };
    expect(readPreview(empty, " , ", 3).error).toBe("The target is empty");
  });
  it("a blank field shows nothing and is current", () => {
    expect(readPreview(ANSWER, "  ", 9)).toEqual({ ids: [], counts: [], error: null, warnings: [], current: true });
  });
});

describe("applyTargets", () => {
  it("patches the previewed ids, the selection when blank, and refuses stale or bad ones", () => {
    expect(applyTargets("*/dense, head", readPreview(ANSWER, "*/dense, head", 3))).toEqual(["block_0/dense", "head"]);
    expect(applyTargets("", readPreview(ANSWER, "", 3))).toBeNull();
    expect(applyTargets("*/dense, head", readPreview(ANSWER, "*/dense, head", 4))).toEqual({
      error: expect.stringContaining("on its way") });
    const bad = { ...ANSWER, targets: "x", error: "The target is empty" };
    expect(applyTargets("x", readPreview(bad, "x", 3))).toEqual({ error: expect.stringMatching(/^Target: The target is empty/) });
  });
});

describe("PreviewRequester", () => {
  it("sends one numbered preview per pause in typing; blank text at once", () => {
    vi.useFakeTimers();
    const sent: OutMessage[] = [];
    const r = new PreviewRequester((m) => sent.push(m), 200);
    r.typed("*");
    r.typed("*/q");
    vi.advanceTimersByTime(150);
    r.typed("*/query");
    expect(sent).toEqual([]);
    expect(r.pending).toBe(true);
    vi.advanceTimersByTime(200);
    expect(sent).toEqual([{ type: "preview", targets: "*/query", seq: 1 }]);
    r.typed("");
    expect(sent[1]).toEqual({ type: "preview", targets: "", seq: 2 });
    r.typed("Dense");
    r.dispose();
    vi.advanceTimersByTime(1000);
    expect(sent).toHaveLength(2);
    vi.useRealTimers();
  });
});
