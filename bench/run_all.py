"""Runs every benchmark in this folder; each prints ours vs a baseline run in the same process."""

from __future__ import annotations

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

for module_name in ("bench_graph", "bench_patch", "bench_sample"):
    print(f"## {module_name}")
    importlib.import_module(module_name).main()
