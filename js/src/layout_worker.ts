// The layout worker: runs the hierarchical, cached layout (layout_engine.ts: ELK layered per level,
// a quick layered layout for levels over 100 nodes) off the main thread; the level cache lives here, so
// it survives from one request to the next. build.mjs
// bundles this file to a string; layout_client.ts starts it from a Blob URL (anywidget
// imports our bundle from a blob URL, so `new URL("./x.js", import.meta.url)` cannot work).
// Without Worker support the same string is evaluated on the page and registers a function.
import ELK from "elkjs/lib/elk.bundled.js";
import type { LayoutRequest } from "./layout";
import { LayoutEngine, runLayout } from "./layout_engine";

const engine = new LayoutEngine(new ELK());
const scope = globalThis as unknown as {
  importScripts?: unknown;
  onmessage: ((ev: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(msg: unknown): void;
  __rwLayout?: typeof run;
};
const run = (req: LayoutRequest) => runLayout(engine, req);

// ELK's first layouts run cold (its compiled code is not optimised yet): a few small ones
// at start-up make the first real ones (expanding a group) several times faster. Off the
// main thread; the page shows its quick layout meanwhile.
const warm = new LayoutEngine(new ELK());
for (let i = 0; i < 3; i++) {
  void warm.layout({
    nodes: Array.from({ length: 24 }, (_, k) => ({ id: `w${i}_${k}`, parent: null, w: 100 + k, h: 48, container: false, minW: 0 })),
    edges: Array.from({ length: 23 }, (_, k) => ({ source: `w${i}_${k}`, target: `w${i}_${k + 1}`, count: 1 }))
      .concat([{ source: `w${i}_0`, target: `w${i}_5`, count: 1 }, { source: `w${i}_3`, target: `w${i}_9`, count: 1 }]),
  });
}

if (typeof scope.importScripts === "function") {
  // Replaces the dispatcher that elk.bundled.js installs on `self` in a worker.
  scope.onmessage = (ev) => {
    void run(ev.data).then((reply) => scope.postMessage(reply));
  };
} else {
  scope.__rwLayout = run;
}
