"""TensorFlow's start-up lines stay out of fd 2 when it is first imported after risk_widgets
(issue 28), and nothing else written there is lost.

Each case runs in a fresh Python with no log-related environment variable: the lines are
written once per process, before TF_CPP_MIN_LOG_LEVEL is read.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from risk_widgets.quiet_start import STARTUP_LINES, drop_startup_lines

ABSL = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# the lines as TensorFlow 2.21 wrote them here (oneDNN on), and from a GPU wheel
REAL_LINES = [
    ABSL,
    b"I0000 00:00:1796668080.362270   17906 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results due to floating-point round-off errors "
    b"from different computation orders. To turn them off, set the environment variable "
    b"`TF_ENABLE_ONEDNN_OPTS=0`.",
    b"I0000 00:00:1796668080.510000   17906 cpu_feature_guard.cc:227] This TensorFlow binary "
    b"is optimized to use available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    b"with the appropriate compiler flags.",
    b"E0000 00:00:1733439200.123456    2048 cuda_dnn.cc:8310] Unable to register cuDNN factory: "
    b"Attempting to register factory for plugin cuDNN when one has already been registered",
    b"W0000 00:00:1733439200.123457    2048 computation_placer.cc:177] computation placer "
    b"already registered. Please check linkage and avoid linking the same target more than once.",
]
STARTUP_WORDS = (b"absl::InitializeLog", b"oneDNN custom operations", b"cpu_feature_guard",
                 b"This TensorFlow binary is optimized")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_CPP_", "GLOG_", "ABSL_", "TF_ENABLE_ONEDNN"))}
    env.update(extra)
    return env


def _python(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, timeout=timeout)


def _noise(stderr: bytes) -> list[bytes]:
    return [line for line in stderr.splitlines() if any(w in line for w in STARTUP_WORDS)]


def test_every_known_line_is_dropped_and_nothing_else():
    real_error = b"E0000 00:00:1796668080.5  17906 op_kernel.cc:1857] OP_REQUIRES failed"
    text = b"\n".join([*REAL_LINES, real_error, b"a Python warning", b""])
    assert drop_startup_lines(text) == real_error + b"\na Python warning\n"
    # a start-up text in the middle of another line is that line's, and stays
    inside = b"my log: " + REAL_LINES[2] + b"\n"
    assert drop_startup_lines(inside) == inside
    assert all(any(p.search(line) for p in STARTUP_LINES) for line in REAL_LINES)


@pytest.mark.slow
def test_import_after_risk_widgets_writes_no_startup_line():
    # oneDNN on, as on Intel CPUs by default: its line must go too (the numbers stay its own)
    env = _clean_env(TF_ENABLE_ONEDNN_OPTS="1", KERAS_BACKEND="tensorflow")
    loud = _python("import tensorflow", env)
    assert loud.returncode == 0, loud.stderr.decode()
    # the control: without risk_widgets, this TensorFlow does write them
    assert _noise(loud.stderr), loud.stderr.decode()

    quiet = _python("""
        import os, sys
        import risk_widgets
        import keras
        import tensorflow as tf
        from risk_widgets.quiet_start import QuietTensorFlowImport
        assert tf.__loader__ is tf.__spec__.loader and "Quiet" not in type(tf.__loader__).__name__
        assert not any(isinstance(f, QuietTensorFlowImport) for f in sys.meta_path)
        print(float(keras.ops.sum(keras.ops.ones(3))))
        os.write(2, b"written later\\n")
    """, env)
    assert quiet.returncode == 0, quiet.stderr.decode()
    assert quiet.stdout.split() == [b"3.0"]
    assert _noise(quiet.stderr) == [], quiet.stderr.decode()
    assert b"written later" in quiet.stderr


FAKE_TF = '''
import os
os.write(2, {absl!r} + b"\\n" + b"E0000 00:00:1.5  42 real.cc:1] a real error\\n")
if os.environ.get("FAKE_TF_FAILS"):
    raise ImportError("fake tensorflow cannot load its library")
'''


@pytest.mark.parametrize("fails", [False, True], ids=["loads", "fails"])
def test_other_lines_written_during_the_import_come_back(tmp_path, fails):
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(FAKE_TF.format(absl=ABSL))
    env = _clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    if fails:
        env["FAKE_TF_FAILS"] = "1"
    run = _python("import risk_widgets\nimport tensorflow\nprint('imported')", env)
    stderr = run.stderr.decode()
    assert ABSL.decode() not in stderr
    assert "a real error" in stderr
    if fails:  # the error and its traceback are the user's to see
        assert run.returncode == 1
        assert "ImportError: fake tensorflow cannot load its library" in stderr
    else:
        assert run.returncode == 0 and run.stdout.split() == [b"imported"], stderr


def test_nothing_is_installed_once_tensorflow_is_imported():
    import tensorflow  # noqa: F401

    from risk_widgets import quiet_start

    before = list(sys.meta_path)
    assert quiet_start.install() is False
    assert sys.meta_path == before
