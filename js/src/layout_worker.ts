// The layout worker: runs the hierarchical, cached layout (layout.ts: ELK layered per level,
// a quick layered layout for huge levels) off the main thread; the level cache lives here, so
// it survives from one request to the next. build.mjs
// bundles this file to a string; layout_client.ts starts it from a Blob URL (anywidget
// imports our bundle from a blob URL, so `new URL("./x.js", import.meta.url)` cannot work).
// Without Worker support the same string is evaluated on the page and registers a function.
import ELK from "elkjs/lib/elk.bundled.js";
import { LayoutEngine, runLayout, type LayoutRequest } from "./layout";

const engine = new LayoutEngine(new ELK());
const scope = globalThis as unknown as {
  importScripts?: unknown;
  onmessage: ((ev: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(msg: unknown): void;
  __rwLayout?: typeof run;
};
const run = (req: LayoutRequest) => runLayout(engine, req);

if (typeof scope.importScripts === "function") {
  // Replaces the dispatcher that elk.bundled.js installs on `self` in a worker.
  scope.onmessage = (ev) => {
    void run(ev.data).then((reply) => scope.postMessage(reply));
  };
} else {
  scope.__rwLayout = run;
}
