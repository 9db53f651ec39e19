"""Patch a KerasHub task, keep the task (issue #32 parts 1-2): tiny random-init causal LMs
(GPT2, Gemma, Llama, Mistral) and classifiers (text, image), no downloads.

`rw.add_lora(task)` (DoRA, SVF, unpatch, fold) gives an object of the task's class whose
``generate()`` / ``predict`` run the patched layers; a tied input/output embedding is
patched, folded, saved and loaded as one layer; Keras' own ``enable_lora`` folds the same.
"""

from __future__ import annotations

import warnings

import keras_hub
import numpy as np
import pytest

import risk_widgets as rw
from tests.kerashub_cases import build_case

CAUSAL = {
    "GPT2": ("GPT2Backbone", "GPT2CausalLM"),
    "Gemma": ("GemmaBackbone", "GemmaCausalLM"),
    "Llama": ("LlamaBackbone", "LlamaCausalLM"),
    "Mistral": ("MistralBackbone", "MistralCausalLM"),
}


def _lm(family: str):
    backbone_name, task_name = CAUSAL[family]
    backbone, data = build_case(backbone_name)
    task = getattr(keras_hub.models, task_name)(backbone=backbone, preprocessor=None)
    task.compile(sampler="greedy")  # generate() is then deterministic
    return task, data


def _prompt(data):
    ids = np.asarray(data["token_ids"])[:1]
    mask = np.zeros_like(ids, dtype=bool)
    mask[:, :2] = True  # two prompt tokens; generate() fills the rest
    return {"token_ids": ids, "padding_mask": mask}


def _out(model, data):
    return np.asarray(model.predict(data, verbose=0), dtype="float64")


def _move(model, seed=0):
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        v.assign(v.numpy() + 0.5 * rng.normal(size=v.shape).astype(v.dtype))


def _generate(model, data):
    return np.asarray(model.generate(_prompt(data), stop_token_ids=None)["token_ids"])


@pytest.mark.parametrize("family", sorted(CAUSAL))
def test_a_patched_causal_lm_is_still_its_task_and_generates_with_the_adapters(family, tmp_path):
    task, data = _lm(family)
    task_cls = type(task)
    before = [np.array(w) for w in task.get_weights()]
    patched = rw.add_lora(task, rank=2)
    assert isinstance(patched, task_cls) and isinstance(patched, rw.PatchedModel)
    assert type(patched.backbone).__name__ == type(task.backbone).__name__
    assert np.array_equal(_out(patched, data), _out(task, data))  # fresh: B = 0
    assert np.array_equal(_generate(patched, data), _generate(task, data))
    _move(patched)
    moved = _out(patched, data)
    assert np.abs(moved - _out(task, data)).max() > 1e-3
    generated = _generate(patched, data)
    folded = rw.fold(patched)
    assert type(folded) is task_cls and not rw.patch_layers(folded)
    np.testing.assert_allclose(_out(folded, data), moved, atol=1e-5)
    assert np.array_equal(_generate(folded, data), generated)  # generate() saw the adapters
    unpatched = rw.unpatch(patched)
    assert isinstance(unpatched, task_cls)
    np.testing.assert_array_equal(_out(unpatched, data), _out(task, data))
    patched.save(tmp_path / "lm.keras")
    loaded = rw.load_model(tmp_path / "lm.keras")
    assert isinstance(loaded, task_cls) and rw.adapter_names(loaded) == ["default"]
    np.testing.assert_allclose(_out(loaded, data), moved, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, task.get_weights(), strict=True))


def test_training_a_patched_task_moves_only_its_adapters():
    task, data = _lm("GPT2")
    before = [np.array(w) for w in task.get_weights()]
    patched = rw.add_lora(task, rank=2)
    assert patched.optimizer is not task.optimizer and patched.compiled
    labels = np.asarray(data["token_ids"])
    history = patched.fit(data, labels, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert sorted(v.name for v in patched.trainable_weights) == ["lora_a", "lora_a",
                                                                 "lora_b", "lora_b"]
    assert all(np.array_equal(a, b) for a, b in zip(before, task.get_weights(), strict=True))


@pytest.mark.parametrize("kind", ["dora", "svf"])
def test_dora_and_svf_keep_the_task_too(kind):
    task, data = _lm("Llama")
    add = rw.add_dora if kind == "dora" else rw.add_svf
    patched = add(task, "*query*")
    assert isinstance(patched, type(task))
    _move(patched)
    np.testing.assert_allclose(_out(rw.fold(patched), data), _out(patched, data), atol=1e-5)
    assert _generate(patched, data).shape == np.asarray(data["token_ids"])[:1].shape


@pytest.mark.parametrize("family", ["GPT2", "Gemma"])
def test_the_tied_embedding_is_patched_folded_and_saved_as_one_layer(family, tmp_path):
    task, data = _lm(family)
    patched = rw.add_lora(task, "*token_embedding", rank=2)
    adapter = patched.backbone.token_embedding
    assert rw.patch_layers(patched) == {f"{task.backbone.name}/token_embedding": adapter}
    _move(patched)
    moved = _out(patched, data)
    assert np.abs(moved - _out(task, data)).max() > 1e-3  # the output logits changed too
    # the output projection is the adapted table: x (E + ΔE)ᵀ
    x = np.random.default_rng(1).normal(size=(2, adapter.layer.output_dim)).astype("float32")
    delta = adapter.delta_matrix()
    want = x @ (np.asarray(adapter.layer.embeddings, "float64") + delta).T
    got = np.asarray(adapter(x, reverse=True), "float64")
    if getattr(adapter.layer, "logit_soft_cap", None) is None:
        np.testing.assert_allclose(got, want, atol=1e-4)
    folded = rw.fold(patched)
    assert len(folded.weights) == len(task.weights)  # one table, not two
    assert folded.backbone.token_embedding is folded.get_layer(
        task.backbone.name).get_layer("token_embedding")
    np.testing.assert_allclose(_out(folded, data), moved, atol=1e-5)
    _generate(folded, data)
    patched.save(tmp_path / "tied.keras")
    np.testing.assert_allclose(_out(rw.load_model(tmp_path / "tied.keras"), data), moved,
                               atol=1e-6)


def test_keras_native_lora_on_a_task_folds_into_one_table():
    backbone, data = build_case("GPT2Backbone")
    backbone.enable_lora(2)
    task = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    _move(task)
    folded = rw.fold(task)
    assert type(folded) is keras_hub.models.GPT2CausalLM
    np.testing.assert_allclose(_out(folded, data), _out(task, data), atol=1e-5)
    assert len(folded.weights) == len(task.weights) - 4  # the two A, B pairs merged


def test_a_task_built_around_a_patched_backbone_generates_with_it():
    backbone, data = build_case("GPT2Backbone")
    patched_backbone = rw.add_lora(backbone, rank=2)
    assert isinstance(patched_backbone, keras_hub.models.GPT2Backbone)
    _move(patched_backbone)
    task = keras_hub.models.GPT2CausalLM(backbone=patched_backbone, preprocessor=None)
    task.compile(sampler="greedy")
    reference = keras_hub.models.GPT2CausalLM(backbone=rw.fold(patched_backbone),
                                              preprocessor=None)
    reference.compile(sampler="greedy")
    np.testing.assert_allclose(_out(task, data), _out(reference, data), atol=1e-5)
    assert np.array_equal(_generate(task, data), _generate(reference, data))


def test_classifiers_keep_their_class_compile_defaults_and_predict():
    backbone, data = build_case("BertBackbone")
    text = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3,
                                               preprocessor=None)
    patched = rw.add_lora(text, rank=2)
    assert isinstance(patched, keras_hub.models.BertTextClassifier)
    assert type(patched.loss) is type(text.loss) and patched.loss is text.loss
    assert patched.optimizer is not text.optimizer
    np.testing.assert_array_equal(_out(patched, data), _out(text, data))
    backbone, images = build_case("ViTBackbone")
    image = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=3,
                                                preprocessor=None)
    patched = rw.add_lora(image, "*query*", rank=2)
    assert isinstance(patched, keras_hub.models.ViTImageClassifier)
    _move(patched)
    np.testing.assert_allclose(_out(rw.fold(patched), images), _out(patched, images),
                               atol=1e-5)
    assert _out(patched, images).shape == (len(images), 3)


def test_training_a_task_around_a_patched_backbone_warns_and_patching_it_is_the_way_out():
    backbone, data = build_case("GPT2Backbone")
    patched_backbone = rw.add_lora(backbone, rank=2)
    task = keras_hub.models.GPT2CausalLM(backbone=patched_backbone, preprocessor=None)
    labels = np.asarray(data["token_ids"])
    with pytest.warns(UserWarning, match="training 'gpt2_backbone.*from outside.*rw.add_lora"):
        task.fit(data, labels, epochs=1, verbose=0)  # Keras trains the shared base here
    backbone, data = build_case("GPT2Backbone")
    before = [np.array(w) for w in backbone.get_weights()]
    patched_backbone = rw.add_lora(backbone, rank=2)
    task = keras_hub.models.GPT2CausalLM(backbone=patched_backbone, preprocessor=None)
    adopted = rw.add_lora(task, "*key*", rank=2, name="more")
    names = sorted(v.name for v in adopted.trainable_weights)
    assert names == ["lora_a"] * 3 + ["lora_b"] * 3  # the backbone's two and the new one
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*from outside")
        adopted.fit(data, labels, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, backbone.get_weights(), strict=True))
