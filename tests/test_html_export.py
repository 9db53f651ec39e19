"""The standalone HTML export: the page holds the bundle and the trait values (bytes as
base64, exactly), and a bad path gets a clear error. Drawn in a browser in
tests/browser/test_html_export.py."""

import base64
import json
import re

import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.ui.html_export import TRAITS


@pytest.fixture(scope="module")
def editor():
    x, y = demo.cubic_data(n=50, seed=0)
    return rw.GraphEditor(demo.regression_mlp(), data=(x, y))


def test_the_page_carries_every_trait_and_the_exact_risk_bytes(editor, tmp_path):
    path = editor.export_html(tmp_path / "graph.html")
    with open(path, encoding="utf-8") as file:
        text = file.read()
    raw = re.search(r'<script type="application/json" id="rw-state">(.*?)</script>', text, re.S)
    state = json.loads(raw.group(1))
    assert set(state) == set(TRAITS)
    assert state["graph"] == json.loads(json.dumps(editor.graph))
    std = base64.b64decode(state["risk"]["std"]["$bytes"])
    assert std == editor.risk["std"]
    assert np.frombuffer(std, "<f4").shape == (50,)
    assert "</script" not in raw.group(1)
    assert editor.status["level"] == "info" and "standalone page" in editor.status["message"]


def test_a_bad_path_is_refused_with_the_way_out(editor, tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.html"):
        editor.export_html(tmp_path / "graph.png")
    (tmp_path / "taken.html").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        editor.export_html(tmp_path / "taken.html", overwrite=False)
    assert (tmp_path / "taken.html").read_text() == "mine"
    assert editor.status["level"] == "error"
