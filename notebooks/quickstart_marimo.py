import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # risk_widgets quickstart, in marimo

    The same steps as `quickstart.ipynb`: open the graph editor on a model, select layers,
    add LoRA, undo, redo, export the folded model, and watch the risk plot while a model
    trains. `mo.ui.anywidget(rw.GraphEditor(model))` puts the editor in the page; what you
    click there reaches Python, and the cells that read the editor run again.

    Run it with `marimo edit notebooks/quickstart_marimo.py` (or `marimo run` for the app
    view).
    """)
    return


@app.cell
def _():
    import marimo as mo
    import numpy as np

    import risk_widgets as rw  # before keras: TensorFlow's start-up lines stay out of the page
    import keras
    from risk_widgets import demo

    keras.utils.set_random_seed(0)  # the same numbers on every machine
    output = mo.notebook_dir() / "output"  # every file this notebook writes goes here
    output.mkdir(exist_ok=True)
    return demo, keras, mo, np, output, rw


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## 1. A demo model and the editor

    A small transformer whose blocks are `CompositeLayer`s; nothing is downloaded. Click a
    layer in the graph (shift-click adds one): the cell below the editor follows.
    """)
    return


@app.cell
def _(demo, mo, rw):
    model = demo.transformer()
    tokens, labels = demo.toy_sequences(n=256)
    graph_editor = rw.GraphEditor(model)
    graph_editor.expanded = ["block_0", "block_0/attn"]
    editor = mo.ui.anywidget(graph_editor)
    editor
    return editor, graph_editor, model, tokens


@app.cell
def _(editor, mo):
    # reads the editor: runs again whenever the selection changes in the page
    _chosen = editor.value["selection"]
    mo.md("**Selected in the page:** "
          + (", ".join(f"`{path}`" for path in _chosen) or "nothing yet; click a layer"))
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## 2. Add LoRA, from Python

    In the page: select `query` and `value`, pick **LoRA**, set the rank, **Apply**. The same
    in Python (this cell does not read `editor`, so clicks do not run it again):
    """)
    return


@app.cell
def _(graph_editor, model, np, rw, tokens):
    graph_editor.select(["block_0/attn/query", "block_0/attn/value"])
    graph_editor.apply("lora", rank=4)
    patched = [n["id"] for n in graph_editor.graph["nodes"] if n["patch"]]
    assert patched == ["block_0/attn/query", "block_0/attn/value"], patched
    report = rw.trainable_report(graph_editor.model)
    assert 0 < report["trainable"] < 0.1 * report["total"]
    # a fresh LoRA patch does not change the outputs
    np.testing.assert_allclose(graph_editor.model.predict(tokens, verbose=0),
                               model.predict(tokens, verbose=0), atol=1e-5)
    lora_model = graph_editor.model
    print(f"patched {patched}: trainable {report['trainable']:,} of {report['total']:,}")
    return (lora_model,)


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## 3. Undo, redo, export

    `fold=True` merges the adapters: the file is a plain Keras model.
    """)
    return


@app.cell
def _(graph_editor, keras, lora_model, model, np, output, tokens):
    graph_editor.undo()
    assert graph_editor.model is model
    graph_editor.redo()
    assert graph_editor.model is lora_model
    exported = graph_editor.export(str(output / "quickstart_folded.keras"), fold=True)
    reloaded = keras.models.load_model(exported)
    np.testing.assert_allclose(reloaded.predict(tokens, verbose=0),
                               lora_model.predict(tokens, verbose=0), atol=1e-5)
    print("exported and reloaded", exported)
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## 4. Risk, live

    A 1-D regression model with the `vote` wrapper: the plot shows the prediction with ±1/±2
    std bands over x in [-6, 6], and follows every patch and every epoch of `fit`. The
    training data covers [-4, 4]; outside it the voters disagree.
    """)
    return


@app.cell
def _(demo, mo, rw):
    mlp = demo.regression_mlp()
    x, y = demo.cubic_data(n=512)
    x_plot = demo.plot_grid()
    risk_widget = rw.GraphEditor(mlp, data=x_plot)
    risk_editor = mo.ui.anywidget(risk_widget)
    risk_editor
    return risk_editor, risk_widget, x, x_plot, y


@app.cell
def _(np, risk_widget, x, x_plot, y):
    risk_widget.apply("vote", n_voters=4)
    risk_widget.fit(x, y, epochs=30, batch_size=64)
    _, _std = risk_widget.model(x_plot, return_risk=True)
    _std = np.asarray(_std)[:, 0]
    _inside = np.abs(x_plot[:, 0]) < 3.5
    print(f"mean std inside the training range {_std[_inside].mean():.3f}, "
          f"outside {_std[~_inside].mean():.3f}")
    assert _std[~_inside].mean() > _std[_inside].mean()
    return


@app.cell
def _(mo):
    reread = mo.ui.button(label="Read the kernel's risk view again")
    return (reread,)


@app.cell
def _(mo, np, reread, risk_editor):
    # runs again on a click in the risk editor's graph, or on the button: the kernel's view
    # of the plot's arrays, decoded here as the page decodes them
    reread
    _risk = risk_editor.widget.risk
    _x = np.frombuffer(_risk["x"], "<f4") if _risk.get("x") else np.zeros(0, "<f4")
    _pred = np.frombuffer(_risk["y_pred"], "<f4") if _risk.get("y_pred") else _x
    _std = np.frombuffer(_risk["std"], "<f4") if _risk.get("std") else _x
    kernel_view = {
        "selection": risk_editor.value["selection"],
        "history": risk_editor.widget.history.get("index", 0),
        "mode": _risk.get("mode"),
        "epoch": _risk.get("epoch"),
        "n": int(_pred.size),
        "y_pred_first": float(_pred[0]) if _pred.size else None,
        "y_pred_last": float(_pred[-1]) if _pred.size else None,
        "std_at_min_x": float(_std[np.argmin(_x)]) if _x.size else None,
        "std_at_max_x": float(_std[np.argmax(_x)]) if _x.size else None,
    }
    mo.vstack([
        reread,
        mo.md("**The kernel's risk view** (selection, history step, the plot's numbers):"),
        mo.plain_text(repr(kernel_view)),
    ])
    return


if __name__ == "__main__":
    app.run()
