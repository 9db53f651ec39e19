import { describe, expect, it } from "vitest";
import { findCount, findMarks, findNodes, queryMatcher, stepHit } from "../src/find";
import { indexGraph, visibleGraph } from "../src/graph_model";
import { G } from "./graph_view_fixture";

describe("findNodes", () => {
  it("matches names, paths and classes case-insensitively, inside collapsed groups too, in graph order", () => {
    expect(findNodes(G, "QUERY").hits).toEqual(["block/attn/query"]);
    expect(findNodes(G, "einsum").hits).toEqual(["block/attn/query", "block/attn/value"]); // by class
    expect(findNodes(G, "attn/").hits).toEqual(["block/attn/query", "block/attn/value"]); // by path
    expect(findNodes(G, "block").hits).toEqual(["block", "block/attn", "block/attn/query", "block/attn/value", "block/ffn"]);
    expect(findNodes(G, "   ").hits).toEqual([]);
    expect(findNodes(G, "nothing").hits).toEqual([]);
  });

  it("takes /regular expressions/ and says when one is bad", () => {
    expect(findNodes(G, "/^(head|x)$/").hits).toEqual(["x", "head"]);
    expect(findNodes(G, "/QUERY$/").hits).toEqual(["block/attn/query"]); // case-insensitive
    const bad = findNodes(G, "/(unclosed/");
    expect(bad.hits).toEqual([]);
    expect(bad.error).toMatch(/^bad pattern/);
    expect(findCount(bad, -1)).toBe(bad.error);
    const g = queryMatcher("/a/g") as (t: string) => boolean; // no lastIndex state between tests
    expect([g("a"), g("a"), g("a")]).toEqual([true, true, true]);
  });
});

describe("stepping and marks", () => {
  it("steps forward and back through the hits, wrapping", () => {
    expect(stepHit(3, -1, 1)).toBe(0);
    expect(stepHit(3, -1, -1)).toBe(2);
    expect(stepHit(3, 2, 1)).toBe(0);
    expect(stepHit(3, 0, -1)).toBe(2);
    expect(stepHit(0, -1, 1)).toBe(-1);
    expect(findCount({ hits: ["a", "b", "c"], error: null }, 1)).toBe("2 of 3");
    expect(findCount({ hits: ["a"], error: null }, -1)).toBe("1 match");
    expect(findCount({ hits: [], error: null }, -1)).toBe("no match");
  });

  it("marks a visible hit, and the collapsed group that hides one", () => {
    const index = indexGraph(G);
    const collapsed = visibleGraph(index, []);
    expect([...findMarks(["block/attn/query", "head"], collapsed.rep)]).toEqual([["block", "inside"], ["head", "hit"]]);
    const open = visibleGraph(index, ["block", "block/attn"]);
    expect([...findMarks(["block/attn/query"], open.rep)]).toEqual([["block/attn/query", "hit"]]);
    // a group that is a hit itself stays a hit
    expect(findMarks(["block", "block/ffn"], collapsed.rep).get("block")).toBe("hit");
  });
});
