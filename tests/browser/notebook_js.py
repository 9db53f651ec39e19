"""JavaScript that `notebook_page.Notebook` runs in the page to read and drive a notebook
panel through ``window.jupyterapp`` (the same object in JupyterLab and Notebook 7)."""

# JS: find the NotebookPanel for `path` in the app shell (JupyterLab and Notebook 7).
_FIND_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  const ok = (w) => w && w.context && w.context.path === path && w.content && w.content.model;
  try {
    for (const w of app.shell.widgets('main')) { if (ok(w)) return w; }
  } catch (e) { /* shells without widgets('main') */ }
  return ok(app.shell.currentWidget) ? app.shell.currentWidget : null;
}
"""

# JS: a JSON-able snapshot of a notebook: kernel status and each cell's state and outputs.
_SNAPSHOT = (
    "(path) => { const panel = (" + _FIND_PANEL + ")(path);\n"
    """
  if (!panel) return null;
  const ctx = panel.sessionContext;
  const kernel = ctx && ctx.session ? ctx.session.kernel : null;
  const cells = [];
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const c = list.get(i);
    const code = c.type === 'code';
    cells.push({
      type: c.type,
      source: c.sharedModel.getSource(),
      execution_count: code ? c.executionCount : null,
      running: code && c.executionState === 'running',
      outputs: code ? c.outputs.toJSON() : [],
    });
  }
  return {
    ready: Boolean(panel.context.isReady && ctx && ctx.isReady),
    kernel: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    busy: Boolean(ctx && ctx.session && kernel && kernel.status !== 'idle'),
    run: window.__rwRuns ? window.__rwRuns[path] || null : null,
    cells,
  };
}
"""
)

# JS predicate for wait_for_function: the run's command settled, kernel idle, and every
# cell it ran has a new execution count (above the highest one before the run) and is not
# running; also true as soon as a cell shows an error or the kernel is dead (the caller
# then reports it).
_FINISHED = (
    "(path) => { const s = (" + _SNAPSHOT + ")(path);\n"
    """
  if (!s) return false;
  if (s.kernel === 'dead' || s.kernel === 'autorestarting') return true;
  const run = s.run;
  if (!run) return false;
  if (run.error) return true;
  const ran = run.cells === null ? s.cells : run.cells.map(i => s.cells[i]);
  if (ran.some(c => c && c.outputs.some(o => o.output_type === 'error'))) return true;
  if (!run.done || s.kernel !== 'idle') return false;
  return ran.every(c => !c || c.type !== 'code'
    || (c.execution_count !== null && c.execution_count > run.after && !c.running));
}
"""
)

# JS: record a run (what it executes, the highest execution count before it) and start it,
# by an app command (its promise settles when the cells are done) or by clicking the menu.
_START_RUN = """([path, command, cells, menu]) => {
  const app = window.jupyterapp;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w && w.context && w.context.path === path) panel = w;
  }
  panel = panel || app.shell.currentWidget;
  let after = 0;
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const c = list.get(i);
    if (c.type === 'code' && c.executionCount) after = Math.max(after, c.executionCount);
  }
  const run = {command, cells, after, done: Boolean(menu), error: null};
  (window.__rwRuns = window.__rwRuns || {})[path] = run;
  if (menu) return after;
  app.shell.activateById(panel.id);
  app.commands.execute(command).then(
    () => { run.done = true; },
    (e) => { run.done = true; run.error = String((e && e.stack) || e); });
  return after;
}"""
