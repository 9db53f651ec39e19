"""The rewire engine: rebuild a model with layers replaced, and the models that come out.

Bottom to top: `patch_layer` (the patch-layer contract), `rebuild` (rebuilding containers,
sharing everything else), `frozen_base` and `models` (`RewiredModel`, `PatchedModel` and
their saving), `rewiring` (`rewire`, the checked entry point), `operations` (`unpatch`,
`fold`, `trainable_report`), `adapter_files` (`save_adapters` / `load_adapters`), and
`registry`, where patch kinds register themselves for the graph view. Nothing here
imports a patch kind, the graph or the editor (docs/architecture.md, "Layers").
"""
