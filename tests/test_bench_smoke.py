"""Each benchmark script starts and produces result rows on its smallest size.

No timing is asserted: the benchmarks themselves run with `make bench` (bench/RESULTS.md).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

ROW_KEYS = {"name", "ours", "baseline", "baseline_name", "ratio", "target", "note", "unit"}


def _check(rows: list[dict]) -> None:
    assert rows
    for row in rows:
        assert set(row) >= ROW_KEYS, row
        assert row["ours"] >= 0


def test_bench_graph_smallest():
    import bench_graph

    _check(bench_graph.main((10,)))


def test_bench_patch_smallest():
    import bench_patch

    rows = bench_patch.main(n_blocks=1)
    _check(rows)
    assert "0 base-weight copies" in rows[1]["note"]


def test_bench_sample_smallest():
    import bench_sample

    _check(bench_sample.main((2,)))


def test_bench_posthoc_smallest():
    import bench_posthoc

    text = bench_posthoc.main(["--seeds", "1", "--epochs", "2"])
    for key in ("ece_after", "auroc_laplace_full", "coverage_conformal", "t_temperature"):
        assert f"| {key} |" in text, key


def _in_fresh_python(call: str) -> list[dict]:
    """Rows of a bench call run in a new Python: its sync Playwright cannot run inside the
    browser tests' (an asyncio loop is running in this process once they have)."""
    module = call.split(".")[0]
    code = (
        f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import {module}; "
        f"print('ROWS ' + json.dumps({call}, default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("ROWS "))
    return json.loads(line[len("ROWS "):])


def _browser_ready() -> bool:
    bundle = BENCH.parent / "risk_widgets" / "static" / "widget.js"
    return bundle.exists() and shutil.which("chromium") is not None


@pytest.mark.browser
@pytest.mark.skipif(not _browser_ready(), reason="needs the built bundle and chromium")
def test_bench_frontend_smallest():
    rows = _in_fresh_python("bench_frontend.main((10,), extra=False)")
    _check(rows)
    assert any(r["name"].startswith("first paint") for r in rows)


@pytest.mark.browser
@pytest.mark.skipif(not _browser_ready(), reason="needs the built bundle and chromium")
def test_profile_expand_on_a_graph_whose_node_list_follows_the_frame():
    # 400 collapsed blocks: over the 300 rows above which a new scene's node list (the DOM
    # mirror) is written just after its frame; once written it holds the expanded children
    out = _in_fresh_python("profile_expand.main(400, top=3)")
    assert out["rows_before"] > 300 and out["children"] > 0
    assert out["rows_after"] == out["expand"]["nodes"] == out["rows_before"] + out["children"]
    # The look-ahead laid out the blocks' inside before the first expand: that expand lays
    # out only the top level and takes the block's level from the worker's cache.
    assert out["lookahead"]["shapes"] >= 1
    assert out["first_expand"]["laidOut"] == 1 and out["first_expand"]["cached"] == 1


@pytest.mark.browser
@pytest.mark.skipif(not _browser_ready(), reason="needs the built bundle and chromium")
def test_bench_risk_view_smallest():
    _check(_in_fresh_python("bench_risk_view.main(100)"))


def test_run_all_table_and_targets():
    import run_all

    rows = [
        {"name": "a", "ours": 0.02, "baseline": 0.2, "baseline_name": "b", "ratio": 0.1,
         "target": "≤ 0.5×", "note": None, "unit": "s"},
        {"name": "c", "ours": 0.2, "baseline": None, "baseline_name": None, "ratio": None,
         "target": "< 100 ms", "note": "n", "unit": "s"},
        {"name": "d", "ours": 1 / 20, "baseline": None, "baseline_name": None, "ratio": None,
         "target": "≥ 30 fps", "note": None, "unit": "fps"},
    ]
    text = run_all.table(rows, "m", "2026-01-01")
    assert "| a | 20 ms | b: 200 ms | 0.10× | ≤ 0.5×: met |" in text
    assert "< 100 ms: **missed**" in text
    assert "| d | 20 fps |" in text and "≥ 30 fps: **missed**" in text


def test_run_all_help():
    out = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--quick" in out.stdout
