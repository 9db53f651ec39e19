"""Bad inputs refused by file operations (export, .keras files, adapter files): the cases run by
``test_bad_input_is_refused_clearly_and_changes_nothing`` in tests/test_bad_inputs.py."""

from __future__ import annotations

import functools
import os

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import vote
from tests import models as M
from tests.bad_inputs_helpers import (
    X4,
    _lora_head,
    _perturb,
    _vote_editor,
    case_table,
    mlp,
)

CASES, case = case_table()


# -- files ------------------------------------------------------------------------------------
def _editor_on_lora(tmp_path):
    state = EditorState(mlp())
    state.select("head")
    state.apply("lora", rank=2)
    _perturb(state.model)
    existing = tmp_path / "existing.keras"
    state.export(existing)
    return {"editor": state, "existing": existing, "tmp": tmp_path}


def _unwritable_folder(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):
        return folder
    folder.chmod(0o700)  # root writes anywhere: use a folder the kernel refuses files in
    if os.path.isdir("/sys") and not os.access("/sys", os.W_OK):
        return "/sys"
    return "/sys" if os.path.isdir("/sys") else pytest.skip("no unwritable folder here")


def _export_good(w):
    saved = w["editor"].export(w["tmp"] / "fine.keras", fold=True)
    assert os.path.getsize(saved) > 0


case("export-to-an-existing-file-without-overwrite", _editor_on_lora,
     lambda w: w["editor"].export(w["existing"], overwrite=False),
     FileExistsError, r"existing\.keras': the file exists", r"Pass overwrite=True", _export_good)
case("export-to-an-existing-folder", _editor_on_lora,
     lambda w: (w["tmp"] / "folder.keras").mkdir() or w["editor"].export(w["tmp"] / "folder.keras"),
     IsADirectoryError, r"folder\.keras': it is a folder", r"Choose a file name in it",
     _export_good)
case("export-to-an-unwritable-folder", _editor_on_lora,
     lambda w: w["editor"].export(os.path.join(_unwritable_folder(w["tmp"]), "m.keras")),
     OSError, r"Cannot write '.*m\.keras'", r"Choose a folder you can write to", _export_good)
case("export-to-a-missing-folder", _editor_on_lora,
     lambda w: w["editor"].export(w["tmp"] / "missing" / "m.keras"),
     ValueError, r"folder '.*missing' does not exist", r"Create it first", _export_good)
case("export-without-the-keras-suffix", _editor_on_lora,
     lambda w: w["editor"].export(w["tmp"] / "m.h5"),
     ValueError, r"Received: '.*m\.h5'", r"must end with '\.keras'", _export_good)
case("export-folded-risk-model",
     lambda tmp_path: {"editor": _vote_editor(), "tmp": tmp_path},
     lambda w: w["editor"].export(w["tmp"] / "risky.keras", fold=True),
     TypeError, r"fold\(\) needs .*Received: RiskModel", r"Fold first, then wrap",
     lambda w: w["editor"].export(w["tmp"] / "risky.keras"))


def _saved(tmp_path, model, name):
    path = tmp_path / name
    model.save(path)
    return path


def _truncated(tmp_path):
    good = _saved(tmp_path, rw.add_lora(mlp(), "head", rank=2), "good.keras")
    data = good.read_bytes()
    bad = tmp_path / "truncated.keras"
    bad.write_bytes(data[: len(data) // 2])
    return {"model": mlp(), "good": good, "bad": bad}


case("load-a-truncated-keras-file", _truncated,
     lambda w: keras.saving.load_model(w["bad"]),  # Keras' own message (it says "not found")
     ValueError, r"truncated\.keras", r"ensure the file is an accessible `\.keras` zip file",
     lambda w: keras.saving.load_model(w["good"]))


@functools.cache
def with_lambda():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Lambda(lambda t: t * 2.0, name="lam")(x)  # runs code when loaded
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="hostile")


for what, make in (("plain", lambda m: m),
                   ("lora-patched", lambda m: rw.add_lora(m, "head", rank=2)),
                   ("vote-wrapped", lambda m: vote.Wrapper(2)(m))):
    case(f"load-a-hostile-{what}-keras-file-in-safe-mode",
         lambda tmp_path, make=make: {
             "model": with_lambda(), "tmp": tmp_path,
             "file": _saved(tmp_path, make(with_lambda()), "hostile.keras")},
         lambda w: keras.saving.load_model(w["file"], safe_mode=True),
         ValueError, r"deserialization of a `Lambda` layer", r"passing `safe_mode=False`",
         lambda w: keras.saving.load_model(
             _saved(w["tmp"], rw.add_lora(mlp(), "head", rank=2), "fine.keras"), safe_mode=True))


def _adapter_file(tmp_path, patched, name="adapters.npz"):
    return rw.save_adapters(_perturb(patched), tmp_path / name)


def _adapters_world(make_other):
    def setup(tmp_path):
        saved = rw.add_lora(mlp(), "head", rank=2)
        return {
            "model": mlp(),
            "saved": saved,
            "file": _adapter_file(tmp_path, saved),
            "svf_file": _adapter_file(tmp_path, rw.add_svf(mlp(), "head"), "svf.npz"),
            "other": make_other(),
        }
    return setup


def _load_good(w):
    same = rw.add_lora(mlp(), "head", rank=2)
    assert rw.load_adapters(same, w["file"]) == ["head"]
    np.testing.assert_allclose(same(X4), w["saved"](X4), atol=1e-6)


case("load-adapters-of-another-rank", _adapters_world(lambda: rw.add_lora(mlp(), "head", rank=1)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"'head::lora_a' has shape \(8, 2\) in the file but \(8, 1\) in the model",
     r"Patch the model with the same kind, rank and targets", _load_good)
case("load-adapters-into-other-layer-sizes",
     _adapters_world(lambda: rw.add_lora(M.mlp(units=(6,)), "head", rank=2)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"saved on a kernel of shape \(8, 2\).*kernel of shape \(6, 2\)",
     r"same architecture", _load_good)
case("load-svf-adapters-into-other-layer-sizes",  # z has min(in, out) = 2 entries in both
     _adapters_world(lambda: rw.add_svf(M.mlp(units=(6,)), "head")),
     lambda w: rw.load_adapters(w["other"], w["svf_file"]),
     ValueError, r"saved on a kernel of shape \(8, 2\).*kernel of shape \(6, 2\)",
     r"same architecture", _load_good)
case("load-adapters-for-other-paths",
     _adapters_world(lambda: rw.add_lora(mlp(), "hidden_1", rank=2)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"are for paths \['head'\], but model 'mlp' is patched at \['hidden_1'\]",
     r"Patch the model the same way", _load_good)
case("load-adapters-of-another-kind", _adapters_world(lambda: rw.add_svf(mlp(), "head")),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"'lora' patch in the file but a 'svf' patch in the model",
     r"Patch the model the same way", _load_good)


def _truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def _lora_2():
    return rw.add_lora(mlp(), "head", rank=2)


case("load-adapters-from-a-truncated-file", _adapters_world(_lora_2),
     lambda w: rw.load_adapters(w["other"], _truncate(w["svf_file"])),
     ValueError, r"not a complete \.npz file written by rw\.save_adapters",
     r"Save the adapters again", _load_good)
case("load-adapters-from-a-missing-file", _adapters_world(_lora_2),
     lambda w: rw.load_adapters(w["other"], "no/such/adapters.npz"),
     FileNotFoundError, r"No adapter file at 'no/such/adapters\.npz'", r"rw\.save_adapters\(",
     _load_good)
case("save-adapters-of-an-unpatched-model", lambda tmp_path: {"model": mlp(), "tmp": tmp_path},
     lambda w: rw.save_adapters(w["model"], w["tmp"] / "a.npz"),
     ValueError, r"has no patch layers: nothing to save", r"Patch it first",
     lambda w: rw.save_adapters(_lora_head(w), w["tmp"] / "a.npz"))
