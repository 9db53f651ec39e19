"""Tiny, random-init configurations of KerasHub backbones and keras.applications CNNs.

For `tests/test_kerashub_sweep.py` and `bench/bench_kerashub.py`. The configurations follow
keras-hub's own ``*_backbone_test.py`` (keras-hub 0.32), made smaller where a test used a big
one (fewer layers and filters, 16-32 px images): nothing is downloaded. A backbone class
of ``keras_hub.models`` without an entry here is listed in `NOT_SWEPT` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

B, SEQ = 2, 5  # batch and sequence length of every text input


def _tokens(*names: str, seq: int = SEQ, vocab: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for name in names:
        if name.endswith("padding_mask"):
            out[name] = np.ones((B, seq), "int32")
        elif name.endswith("segment_ids"):
            out[name] = np.zeros((B, seq), "int32")
        else:
            out[name] = rng.integers(1, vocab, size=(B, seq)).astype("int32")
    return out


def _image(h: int, w: int | None = None, c: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((B, h, w or h, c)).astype("float32")


def _t5gemma() -> dict:
    side = {"hidden_dim": 8, "intermediate_dim": 16, "num_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 4, "layer_types": ["full_attention"]}
    return {"vocabulary_size": 10, **{f"encoder_{k}": v for k, v in side.items()},
            **{f"decoder_{k}": v for k, v in side.items()}, "dropout_rate": 0.0,
            "tie_word_embeddings": True, "query_pre_attn_scalar": 1.0, "attention_bias": False,
            "hidden_activation": "gelu_approximate", "sliding_window": 4,
            "cross_attention_hidden_size": 8, "attn_logit_softcapping": 50.0,
            "attention_dropout": 0.0}


def _qwen3_5(**more: Any) -> dict:
    return {"vocabulary_size": 10, "num_layers": 2, "num_query_heads": 4,
            "num_key_value_heads": 2, "head_dim": 8, "hidden_dim": 8,
            "layer_types": ["linear_attention", "full_attention"], "partial_rotary_factor": 0.25,
            "linear_num_key_heads": 2, "linear_num_value_heads": 2, "linear_key_head_dim": 4,
            "linear_value_head_dim": 4, "linear_conv_kernel_dim": 2, **more}


TEXT = ("token_ids", "padding_mask")
BERT = ("token_ids", "segment_ids", "padding_mask")
SEQ2SEQ = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
           "decoder_padding_mask")
SMALL = {"vocabulary_size": 10, "num_layers": 1, "num_heads": 2, "hidden_dim": 4,
         "intermediate_dim": 8}

#: class name -> (init kwargs, or a function making them; inputs)
CASES: dict[str, tuple[Any, Any]] = {
    # encoders
    "AlbertBackbone": ({**SMALL, "num_groups": 1, "num_inner_repetitions": 1,
                        "embedding_dim": 8, "max_sequence_length": SEQ}, _tokens(*BERT)),
    "BertBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*BERT)),
    "DebertaV3Backbone": ({**SMALL, "max_sequence_length": SEQ, "bucket_size": 2},
                          _tokens(*TEXT)),
    "DistilBertBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "ElectraBackbone": ({"vocab_size": 10, "num_layers": 1, "num_heads": 2, "hidden_dim": 4,
                         "embedding_dim": 4, "intermediate_dim": 8,
                         "max_sequence_length": SEQ}, _tokens(*BERT)),
    "ESMBackbone": ({**SMALL, "num_heads": 1}, _tokens("token_ids")),
    "ESM2Backbone": ({**SMALL, "num_heads": 1}, _tokens("token_ids")),
    "FNetBackbone": ({k: v for k, v in SMALL.items() if k != "num_heads"}
                     | {"max_sequence_length": SEQ}, _tokens("token_ids", "segment_ids")),
    "RobertaBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "RoformerV2Backbone": ({**SMALL, "num_heads": 1, "hidden_dim": 2, "head_size": 2},
                           _tokens("token_ids", "segment_ids")),
    "XLMRobertaBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "XLNetBackbone": (SMALL, _tokens(*BERT)),
    # decoders
    "BloomBackbone": ({**SMALL, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16},
                      _tokens(*TEXT)),
    "FalconBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_attention_heads": 2,
                        "hidden_dim": 8, "intermediate_dim": 16}, _tokens(*TEXT)),
    "GemmaBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 2,
                       "num_key_value_heads": 1, "hidden_dim": 8, "intermediate_dim": 16,
                       "head_dim": 4}, _tokens(*TEXT)),
    "Gemma3Backbone": ({"vocabulary_size": 10, "image_size": 16, "num_layers": 1,
                        "num_query_heads": 2, "num_key_value_heads": 1, "hidden_dim": 8,
                        "intermediate_dim": 16, "head_dim": 4, "vision_encoder": None},
                       _tokens(*TEXT)),
    "GPT2Backbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "GPTNeoXBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "GptOssBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                        "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8,
                        "num_experts": 2, "top_k": 2, "sliding_window": 2}, _tokens(*TEXT)),
    "LlamaBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                       "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8},
                      _tokens(*TEXT)),
    "Llama3Backbone": (lambda: CASES["LlamaBackbone"][0], _tokens(*TEXT)),
    "MistralBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                         "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8,
                         "sliding_window": 2}, _tokens(*TEXT)),
    "MixtralBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                         "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8,
                         "num_experts": 2, "top_k": 2, "sliding_window": 2}, _tokens(*TEXT)),
    "OPTBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*TEXT)),
    "Phi3Backbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                      "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8},
                     _tokens(*TEXT)),
    "Qwen3Backbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                       "num_key_value_heads": 2, "head_dim": 2, "hidden_dim": 8,
                       "intermediate_dim": 8}, _tokens(*TEXT)),
    "Qwen3MoeBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                          "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 16,
                          "head_dim": 2, "moe_intermediate_dim": 8, "num_experts": 2,
                          "top_k": 2}, _tokens(*TEXT)),
    "QwenMoeBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                         "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 16,
                         "moe_intermediate_dim": 8, "shared_expert_intermediate_dim": 8,
                         "num_experts": 2, "top_k": 2}, _tokens(*TEXT)),
    "QwenBackbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                      "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8},
                     _tokens(*TEXT)),
    "Qwen2Backbone": ({"vocabulary_size": 10, "num_layers": 1, "num_query_heads": 4,
                       "num_key_value_heads": 2, "hidden_dim": 8, "intermediate_dim": 8},
                      _tokens(*TEXT)),
    "Qwen3_5Backbone": (lambda: _qwen3_5(intermediate_dim=16), _tokens(*TEXT)),
    "Qwen3_5MoeBackbone": (lambda: _qwen3_5(moe_intermediate_dim=8,
                                            shared_expert_intermediate_size=8, num_experts=2,
                                            top_k=2), _tokens(*TEXT)),
    "PaliGemmaBackbone": ({"vocabulary_size": 10, "image_size": 16, "num_layers": 1,
                           "num_query_heads": 2, "num_key_value_heads": 1, "hidden_dim": 8,
                           "intermediate_dim": 16, "head_dim": 4, "vit_patch_size": 4,
                           "vit_num_layers": 1, "vit_num_heads": 2, "vit_hidden_dim": 8,
                           "vit_intermediate_dim": 16},
                          {"images": _image(16), **_tokens(*TEXT, "response_mask", seq=24)}),
    "RWKV7Backbone": ({"vocabulary_size": 10, "hidden_size": 8, "num_layers": 1,
                       "head_size": 4, "intermediate_dim": 16, "gate_lora": 4, "mv_lora": 4,
                       "aaa_lora": 4, "decay_lora": 4}, _tokens(*TEXT, seq=16)),
    "SmolLMBackbone": (lambda: CASES["SmolLM3Backbone"][0], _tokens(*TEXT)),
    "SmolLM3Backbone": ({"vocabulary_size": 10, "hidden_dim": 8, "intermediate_dim": 16,
                         "num_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                         "attention_bias": False, "attention_dropout": 0.0,
                         "rope_layer_enabled_list": [True], "layer_types": ["attention"],
                         "mlp_bias": False, "layer_norm_epsilon": 1e-5,
                         "max_position_embeddings": 16, "rope_theta": 10000.0,
                         "partial_rotary_factor": 1.0}, _tokens(*TEXT)),
    # encoder-decoders
    "BartBackbone": ({**SMALL, "max_sequence_length": SEQ}, _tokens(*SEQ2SEQ)),
    "T5Backbone": (SMALL, _tokens(*SEQ2SEQ)),
    "EdRecBackbone": ({"vocab_size": 10, "num_layers_enc": 1, "num_layers_dec": 1,
                       "num_heads": 2, "hidden_dim": 4, "intermediate_dim": 8, "dropout": 0.0},
                      _tokens(*SEQ2SEQ)),
    "MoonshineBackbone": ({"vocabulary_size": 10, "filter_dim": 8, "encoder_num_layers": 1,
                           "decoder_num_layers": 1, "hidden_dim": 8, "intermediate_dim": 16,
                           "encoder_num_heads": 2, "decoder_num_heads": 2,
                           "feedforward_expansion_factor": 2, "max_position_embeddings": 64,
                           "partial_rotary_factor": 0.62},
                          {"encoder_input_values": np.random.default_rng(0).random(
                              (B, 1600, 1)).astype("float32"),
                           "encoder_padding_mask": np.ones((B, 1600), bool),
                           **_tokens("decoder_token_ids", "decoder_padding_mask")}),
    "T5GemmaBackbone": (lambda: _t5gemma(), _tokens(*SEQ2SEQ)),
    "T5Gemma2Backbone": (lambda: {**_t5gemma(), "use_query_key_norm": True},
                         _tokens(*SEQ2SEQ)),
    "WhisperBackbone": ({**SMALL, "max_encoder_sequence_length": 6,
                         "max_decoder_sequence_length": 6},
                        {"encoder_features": np.ones((B, 5, 80), "float32"),
                         **_tokens("decoder_token_ids", "decoder_padding_mask")}),
    # vision transformers
    "DeiTBackbone": ({"image_shape": (16, 16, 3), "patch_size": 4, "num_layers": 1,
                      "hidden_dim": 8, "num_heads": 2, "intermediate_dim": 16,
                      "use_mha_bias": True}, _image(16)),
    "DINOV2Backbone": ({"patch_size": 14, "num_layers": 1, "hidden_dim": 8, "num_heads": 2,
                        "intermediate_dim": 16, "layer_scale_init_value": 1.0,
                        "num_register_tokens": 0, "use_swiglu_ffn": False,
                        "image_shape": (28, 28, 3)}, {"images": _image(28)}),
    "DINOV3Backbone": ({"patch_size": 16, "num_layers": 1, "hidden_dim": 8, "num_heads": 2,
                        "intermediate_dim": 16, "layer_scale_init_value": 1.0,
                        "num_register_tokens": 4, "use_gated_mlp": False,
                        "image_shape": (32, 32, 3)}, {"pixel_values": _image(32)}),
    "ViTBackbone": ({"image_shape": (16, 16, 3), "patch_size": (4, 4), "num_layers": 1,
                     "hidden_dim": 8, "num_heads": 2, "mlp_dim": 16, "use_mha_bias": True},
                    _image(16)),
    "SwinTransformerBackbone": ({"image_shape": (16, 16, 3), "embed_dim": 8, "depths": (1, 1),
                                 "num_heads": (1, 2), "window_size": 2}, _image(16)[:1]),
    "VideoPrismBackbone": ({"image_shape": (16, 16, 3), "num_frames": 2, "patch_size": 4,
                            "hidden_dim": 8, "intermediate_dim": 16, "num_heads": 2,
                            "num_spatial_layers": 1, "num_temporal_layers": 1,
                            "num_auxiliary_layers": 1, "vocabulary_size": 0,
                            "num_text_layers": 0},
                           np.ones((B, 2, 16, 16, 3), "float32")),
    "ViTDetBackbone": ({"image_shape": (16, 16, 3), "patch_size": 2, "hidden_size": 4,
                        "num_layers": 2, "global_attention_layer_indices": [1],
                        "intermediate_dim": 8, "num_heads": 2, "num_output_channels": 8,
                        "window_size": 2}, _image(16)[:1]),
    # convolutional
    "CSPNetBackbone": ({"stem_filters": 8, "stem_kernel_size": 3, "stem_strides": 1,
                        "stackwise_strides": 2, "stackwise_depth": [1, 1],
                        "stackwise_num_filters": [8, 16], "image_shape": (None, None, 3),
                        "down_growth": True, "bottle_ratio": (0.5, 1.0),
                        "block_ratio": (1.0, 0.5), "expand_ratio": (2.0, 1.0),
                        "block_type": "dark_block", "stage_type": "csp",
                        "stem_padding": "same"}, _image(32)),
    "DenseNetBackbone": ({"stackwise_num_repeats": [1, 1, 1, 1], "compression_ratio": 0.5,
                          "growth_rate": 2, "image_shape": (32, 32, 3)}, _image(32)),
    "ResNetBackbone": ({"input_conv_filters": [64], "input_conv_kernel_sizes": [3],
                        "stackwise_num_filters": [64], "stackwise_num_blocks": [1],
                        "stackwise_num_strides": [1], "image_shape": (None, None, 3),
                        "block_type": "basic_block", "use_pre_activation": False},
                       _image(16)),
    "EfficientNetBackbone": ({"stackwise_kernel_sizes": [3, 3], "stackwise_num_repeats": [1, 1],
                              "stackwise_input_filters": [8, 8],
                              "stackwise_output_filters": [8, 16],
                              "stackwise_expansion_ratios": [1, 2],
                              "stackwise_squeeze_and_excite_ratios": [0.0, 0.25],
                              "stackwise_strides": [1, 2],
                              "stackwise_block_types": ["fused", "unfused"],
                              "stackwise_force_input_filters": [0, 0],
                              "stackwise_nores_option": [False, False],
                              "width_coefficient": 1.0, "depth_coefficient": 1.0},
                             _image(32)),
    "HGNetV2Backbone": ({"embedding_size": 8, "stem_channels": [3, 8, 8], "hidden_act": "relu",
                         "use_learnable_affine_block": False, "image_shape": (32, 32, 3),
                         "depths": [1, 1], "hidden_sizes": [16, 32],
                         "stackwise_stage_filters": [[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
                         "apply_downsample": [False, True],
                         "use_lightweight_conv_block": [False, False],
                         "out_features": ["stem", "stage1", "stage2"]}, _image(32)),
    "MiTBackbone": ({"layerwise_depths": [1, 1], "image_shape": (32, 32, 3),
                     "hidden_dims": [4, 8], "num_layers": 2, "layerwise_num_heads": [1, 2],
                     "layerwise_sr_ratios": [8, 4], "max_drop_path_rate": 0.1,
                     "layerwise_patch_sizes": [7, 3], "layerwise_strides": [4, 2]},
                    _image(32)),
    "MobileNetV5Backbone": ({"stackwise_block_types": [["er"], ["uir"]],
                             "stackwise_num_blocks": [1, 1],
                             "stackwise_num_filters": [[8], [16]],
                             "stackwise_strides": [[2], [2]],
                             "stackwise_act_layers": [["relu"], ["relu"]],
                             "stackwise_exp_ratios": [[2.0], [2.0]],
                             "stackwise_se_ratios": [[0.0], [0.0]],
                             "stackwise_dw_kernel_sizes": [[0], [3]],
                             "stackwise_dw_start_kernel_sizes": [[0], [0]],
                             "stackwise_dw_end_kernel_sizes": [[0], [0]],
                             "stackwise_exp_kernel_sizes": [[3], [0]],
                             "stackwise_pw_kernel_sizes": [[1], [0]],
                             "stackwise_num_heads": [[0], [0]],
                             "stackwise_key_dims": [[0], [0]],
                             "stackwise_value_dims": [[0], [0]],
                             "stackwise_kv_strides": [[0], [0]],
                             "stackwise_use_cpe": [[False], [False]],
                             "image_shape": (32, 32, 3), "stem_size": 8, "use_msfa": False},
                            _image(32)),
    "VGGBackbone": ({"stackwise_num_repeats": [1, 1], "stackwise_num_filters": [4, 8],
                     "image_shape": (16, 16, 3)}, _image(16)),
    "XceptionBackbone": ({"stackwise_conv_filters": [[8, 8], [16, 16]],
                          "stackwise_pooling": [False, True],
                          "image_shape": (None, None, 3)}, _image(32)),
}

#: classes of ``keras_hub.models`` the sweep does not build, and why (a skip reason each)
NOT_SWEPT: dict[str, str] = {
    "Backbone": "the abstract base class",
    "FeaturePyramidBackbone": "an abstract base class",
    "FluxBackbone": "a diffusion transformer whose smallest test configuration has 7M "
    "parameters and seven inputs; too slow for the 2-core CI sweep",
    "MobileNetBackbone": "its configuration is nested per-block lists that its own test only "
    "gives at full width (280k parameters); keras.applications.MobileNetV2 is swept",
}
COMPOSED = (
    "built from sub-backbones passed in (image_encoder= / vision_encoder= / "
    "text_encoder=...): their blocks are the ones swept on their own (ViT, ResNet, MiT, "
    "text encoders); the composition itself is not in this sweep yet"
)
for _name in ("BASNetBackbone", "BLIP2Backbone", "CLIPBackbone", "DeepLabV3Backbone",
              "DepthAnythingBackbone", "DFineBackbone", "Gemma3nBackbone", "Gemma4Backbone",
              "MetaCLIP2Backbone", "PARSeqBackbone", "RetinaNetBackbone",
              "SAM3PromptableConceptBackbone", "SAMBackbone", "SegFormerBackbone",
              "SigLIPBackbone", "StableDiffusion3Backbone"):
    NOT_SWEPT[_name] = COMPOSED

#: keras.applications CNNs (weights=None, 32x32 where the model allows): name -> input size
APPLICATIONS: dict[str, int] = {
    "MobileNetV2": 32, "ResNet50": 32, "EfficientNetB0": 32, "ConvNeXtTiny": 32,
}


def build_case(name: str) -> tuple[Any, Any]:
    """``(backbone, inputs)`` for a `CASES` entry: random init, tiny, seeded."""
    import keras
    import keras_hub

    kwargs, inputs = CASES[name]
    keras.utils.set_random_seed(0)
    kwargs = kwargs() if isinstance(kwargs, Callable) else dict(kwargs)
    return getattr(keras_hub.models, name)(**kwargs), inputs


def build_application(name: str) -> tuple[Any, Any]:
    """``(model, images)`` for a keras.applications CNN with ``weights=None``."""
    import keras

    keras.utils.set_random_seed(0)
    size = APPLICATIONS[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                               classes=4)
    return model, _image(size)
