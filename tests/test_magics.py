"""%load_ext risk_widgets and %risk_edit: instant load, one-line errors."""

import subprocess
import sys

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import get_ipython

from risk_widgets import demo
from risk_widgets.ui.magics import risk_edit


@pytest.fixture(scope="module")
def ip():
    shell = get_ipython()
    shell.run_line_magic("load_ext", "risk_widgets")
    yield shell
    shell.run_line_magic("unload_ext", "risk_widgets")


def test_loading_the_extension_imports_no_tensorflow():
    code = (
        "from IPython.testing.globalipapp import get_ipython; import sys;"
        "ip = get_ipython(); ip.run_line_magic('load_ext', 'risk_widgets');"
        "assert 'risk_edit' in ip.magics_manager.magics['line'];"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_risk_edit_opens_an_editor_on_a_model_and_data(ip):
    ip.user_ns["model"] = demo.regression_mlp()
    ip.user_ns["x"], ip.user_ns["y"] = demo.cubic_data(n=32)
    editor = ip.run_line_magic("risk_edit", "model --data x y")
    assert editor.model is ip.user_ns["model"]
    assert {"hidden_1", "hidden_2", "head"} <= {n["id"] for n in editor.graph["nodes"]}
    assert editor.risk["mode"] == "bands" and editor.risk["n"] == 32


@pytest.mark.parametrize(
    ("line", "namespace", "message"),
    [
        ("nothing_here", {}, "no model named 'nothing_here'"),
        ("obj", {"obj": 3}, "'obj' is a int, not a Keras model"),
        ("", {}, "the following arguments are required: model"),
        ("m --data a b c", {"m": None, "a": 1, "b": 2, "c": 3}, "--data takes X or X Y"),
        ("m --data missing", {"m": None}, "no array named 'missing'"),
        ("m --bogus", {"m": None}, "unrecognized arguments: --bogus"),
        ("m 'unbalanced", {"m": None}, "No closing quotation"),
    ],
)
def test_bad_lines_give_a_one_line_usage_error(line, namespace, message):
    with pytest.raises(UsageError) as err:
        risk_edit(line, namespace)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_sample_data_is_a_usage_error_not_a_traceback():
    bad = np.array([[np.nan]], dtype="float32")
    with pytest.raises(UsageError, match="NaN"):
        risk_edit("m --data x", {"m": demo.regression_mlp(), "x": bad})
