"""Issue 27 (1): on KerasHub backbones built from subclassed blocks (decoders whose
attention layers KerasHub builds in ``build()``), every adapter kind, ``unpatch``,
adapters-only files, the ``.keras`` round trip and a risk wrapper on inner layers work,
and the user's backbone stays bit-identical (`tests/test_kerashub_sweep.py` runs LoRA
over every backbone class)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.risk import vote
from tests import models as M
from tests.kerashub_cases import build_case

pytest.importorskip("keras_hub", reason="keras-hub is installed by `make setup` (--no-deps)")
DECODERS = ["GemmaBackbone", "LlamaBackbone", "ViTBackbone"]


def _out(model, data) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.tree.flatten(model(data))[0])


def _nudge(patched) -> None:
    """Moves every adapter weight off its initial value (a fresh patch is the identity)."""
    rng = np.random.default_rng(0)
    for layer in rw.patch_layers(patched).values():
        for v in layer.trainable_weights:
            v.assign(v + 0.05 * rng.normal(size=v.shape).astype("float32"))


@pytest.fixture(scope="module", params=DECODERS)
def backbone(request):
    return build_case(request.param)


@pytest.mark.parametrize("kind", ["dora", "svf"])
def test_dora_and_svf_patch_fold_and_round_trip(backbone, kind, tmp_path):
    model, data = backbone
    snap, base = M.snapshot(model), _out(model, data)
    names = rw.default_lora_layer_names(model) if hasattr(rw, "default_lora_layer_names") \
        else None
    targets = lambda path, layer: path.split("/")[-1] in (  # noqa: E731
        names or model.default_lora_layer_names())
    patched = rw.add_dora(model, targets, rank=2) if kind == "dora" else rw.add_svf(model, targets)
    np.testing.assert_allclose(_out(patched, data), base, rtol=1e-5, atol=1e-5)
    _nudge(patched)
    moved = _out(patched, data)
    assert not np.allclose(moved, base, atol=1e-6)
    np.testing.assert_allclose(_out(rw.fold(patched), data), moved, rtol=1e-4, atol=1e-5)
    patched.save(tmp_path / "p.keras")
    np.testing.assert_array_equal(_out(rw.load_model(tmp_path / "p.keras"), data), moved)
    M.assert_same_snapshot(snap, M.snapshot(model))


def test_unpatch_and_adapter_files(backbone, tmp_path):
    model, data = backbone
    base = _out(model, data)
    lora = rw.add_lora(model, rank=2)
    _nudge(lora)
    trained = _out(lora, data)
    np.testing.assert_array_equal(_out(rw.unpatch(lora), data), base)
    rw.save_adapters(lora, tmp_path / "adapters.npz")
    fresh = rw.add_lora(model, rank=2)
    np.testing.assert_allclose(_out(fresh, data), base, rtol=1e-6, atol=1e-6)
    rw.load_adapters(fresh, tmp_path / "adapters.npz")
    np.testing.assert_array_equal(_out(fresh, data), trained)


def test_vote_on_inner_layers(backbone):
    model, data = backbone
    snap, base = M.snapshot(model), _out(model, data)
    inner = sorted(rw.patch_layers(rw.add_lora(model, rank=2)))[:2]  # two inner kernels
    risky = vote.Wrapper(2)(model, targets=inner)
    output, risk = risky(data, return_risk=True)
    output = keras.ops.convert_to_numpy(keras.tree.flatten(output)[0])
    risk = keras.ops.convert_to_numpy(keras.tree.flatten(risk)[0])
    assert output.shape == base.shape and risk.shape[0] == base.shape[0]
    assert np.isfinite(risk).all() and (risk >= 0).all() and risk.max() > 0
    M.assert_same_snapshot(snap, M.snapshot(model))


def test_saving_a_risk_model_on_a_block_without_config_says_what_to_do(tmp_path):
    model, _ = build_case("LlamaBackbone")  # LlamaTransformerDecoder.get_config is broken
    inner = sorted(rw.patch_layers(rw.add_lora(model, rank=2)))[:1]
    risky = vote.Wrapper(2)(model, targets=inner)
    with pytest.raises(ValueError, match=r"Cannot save risk model .*wrap it again after"):
        risky.save(tmp_path / "risky.keras")
