"""What the notebook tests share: the kernel's environment (no log-related variable) and
the check for TensorFlow's start-up lines in a notebook's outputs (issue 28)."""

from __future__ import annotations

import os

import nbformat

#: what TensorFlow writes to fd 2 while it loads; none of it may show in a notebook
STARTUP_NOISE = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cpu_feature_guard",
    "This TensorFlow binary is optimized",
)
_LOG_VARIABLES = ("TF_CPP_", "GLOG_", "ABSL_", "TF_ENABLE_ONEDNN")


def kernel_env() -> dict[str, str]:
    """This process's environment less every log-related variable (conftest sets one), and
    less PYTEST_CURRENT_TEST: under it ipykernel does not show fd 2 in the cells, as it
    does for a user."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(_LOG_VARIABLES) and k != "PYTEST_CURRENT_TEST"}


def startup_noise(notebook: nbformat.NotebookNode) -> list[str]:
    """``"cell N: line"`` for every output line that is TensorFlow start-up noise."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for out in cell.get("outputs", []):
            texts = [out.get("text", ""), *out.get("data", {}).values(),
                     "\n".join(out.get("traceback", []))]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else str(text)
                found += [f"cell {index}: {line}" for line in text.splitlines()
                          if any(noise in line for noise in STARTUP_NOISE)]
    return found
