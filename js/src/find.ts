// Find (pure): which nodes a typed query matches, by name, path or class, in graph order;
// collapsed groups are searched too. Plain text matches case-insensitively anywhere;
// `/pattern/flags` is a regular expression.
import type { Graph } from "./types";

export interface FindResult {
  /** Matching node ids, in graph order (parents before children). */
  hits: string[];
  /** Why the query cannot run (a bad regular expression), or null. */
  error: string | null;
}

/** A predicate over text for `query`, or an error message. */
export function queryMatcher(query: string): ((text: string) => boolean) | string {
  const q = query.trim();
  const re = /^\/(.+)\/([a-z]*)$/.exec(q);
  if (re) {
    try {
      const flags = re[2].replace(/[gy]/g, ""); // test() with g/y is stateful
      const pattern = new RegExp(re[1], flags.includes("i") ? flags : flags + "i");
      return (text) => pattern.test(text);
    } catch (e) {
      return `bad pattern: ${(e as Error).message}`;
    }
  }
  const needle = q.toLowerCase();
  return (text) => text.toLowerCase().includes(needle);
}

/** The nodes whose path (id), name or class matches `query`; no hits for blank text. */
export function findNodes(graph: Graph, query: string): FindResult {
  if (!query.trim()) return { hits: [], error: null };
  const match = queryMatcher(query);
  if (typeof match === "string") return { hits: [], error: match };
  const hits: string[] = [];
  for (const n of graph.nodes) {
    if (match(n.id) || match(n.name) || match(n.class_name)) hits.push(n.id);
  }
  return { hits, error: null };
}

/** Index of the hit after (`step` 1) or before (-1) `current` (-1: none yet), wrapping. */
export function stepHit(count: number, current: number, step: 1 | -1): number {
  if (count === 0) return -1;
  if (current < 0) return step === 1 ? 0 : count - 1;
  return (current + step + count) % count;
}

/** "3 of 12", "12 matches", "no match", or the error. */
export function findCount(result: FindResult, current: number): string {
  if (result.error) return result.error;
  const n = result.hits.length;
  if (n === 0) return "no match";
  if (current < 0) return `${n} match${n === 1 ? "" : "es"}`;
  return `${current + 1} of ${n}`;
}

/**
 * Find marks on the visible nodes: a hit drawn is "hit"; a collapsed group holding hits is
 * "inside" (`rep` maps every id to the visible node standing for it).
 */
export function findMarks(hits: readonly string[], rep: ReadonlyMap<string, string>): Map<string, "hit" | "inside"> {
  const marks = new Map<string, "hit" | "inside">();
  for (const id of hits) {
    const r = rep.get(id);
    if (r === undefined) continue;
    if (r === id) marks.set(id, "hit"); // a group that is itself a hit stays "hit"
    else if (!marks.has(r)) marks.set(r, "inside");
  }
  return marks;
}
