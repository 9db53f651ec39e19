// Bundles the anywidget ES module into ../risk_widgets/static/widget.js (gitignored).
// `node build.mjs` builds minified for release; `--dev` adds inline sourcemaps.
// Two steps: the layout worker is bundled first to a string (an IIFE), which the widget
// imports as the module "rw:layout-worker" and starts from a Blob URL; CSS is imported as
// text and injected by the widget, so the bundle is one file.
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";

const dev = process.argv.includes("--dev");
const outdir = new URL("../risk_widgets/static/", import.meta.url).pathname;
mkdirSync(outdir, { recursive: true });

const common = { bundle: true, target: "es2022", minify: !dev, logLevel: "warning" };

// The worker is mostly ELK (already compiled and minified): always minified, no sourcemap,
// or a dev build would embed megabytes of sourcemap as a string.
const worker = await esbuild.build({
  ...common,
  entryPoints: ["src/layout_worker.ts"],
  format: "iife",
  write: false,
  minify: true,
});
const workerCode = worker.outputFiles[0].text;

const workerPlugin = {
  name: "layout-worker",
  setup(build) {
    build.onResolve({ filter: /^rw:layout-worker$/ }, (args) => ({ path: args.path, namespace: "rw-worker" }));
    build.onLoad({ filter: /.*/, namespace: "rw-worker" }, () => ({
      contents: `export default ${JSON.stringify(workerCode)};`,
      loader: "js",
    }));
  },
};

await esbuild.build({
  ...common,
  entryPoints: { widget: "src/widget.ts" },
  format: "esm",
  outdir,
  sourcemap: dev ? "inline" : false,
  loader: { ".css": "text" },
  plugins: [workerPlugin],
  logLevel: "info",
});
