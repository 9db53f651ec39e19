// Bundles the anywidget ES module into ../risk_widgets/static/ (gitignored).
// `node build.mjs` builds minified for release; `--dev` adds inline sourcemaps.
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";

const dev = process.argv.includes("--dev");
const outdir = new URL("../risk_widgets/static/", import.meta.url).pathname;
mkdirSync(outdir, { recursive: true });

await esbuild.build({
  entryPoints: { widget: "src/widget.ts" },
  bundle: true,
  format: "esm",
  target: "es2022",
  outdir,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  loader: { ".css": "css" },
  logLevel: "info",
});
