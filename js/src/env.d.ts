// Modules provided by build.mjs.
declare module "rw:layout-worker" {
  /** The bundled source of layout_worker.ts (an IIFE script). */
  const code: string;
  export default code;
}
declare module "*.css" {
  const css: string;
  export default css;
}
