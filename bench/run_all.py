"""Runs every benchmark in this folder and rewrites bench/RESULTS.md.

``make bench`` runs this. Every ratio compares our code with a baseline measured in the
same process on the same machine (ours / baseline: below 1 means we are faster).

    .venv/bin/python bench/run_all.py            # everything, risk quality over 10 seeds (~30 min)
    .venv/bin/python bench/run_all.py --quick    # sizes up to 2k, risk quality skipped
    .venv/bin/python bench/run_all.py --seeds 3  # fewer risk-quality seeds
    .venv/bin/python bench/run_all.py --only sample,risk_view  # rerun two sections in place
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import sys
import time
import traceback

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from timing import fmt, ratio_text  # noqa: E402

RESULTS = HERE / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with_name = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                with_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {with_name or cpu}"


def versions() -> str:
    import keras
    import tensorflow as tf

    return (f"Keras {keras.__version__}, TensorFlow {tf.__version__} "
            f"({'CPU' if not tf.config.list_physical_devices('GPU') else 'GPU'}), "
            f"Python {platform.python_version()}")


def met(row: dict) -> str:
    """'met' / 'missed' for rows with a numeric target this script can check."""
    target = row.get("target")
    if not target:
        return ""
    ours, ratio = row["ours"], row["ratio"]
    checks = []
    for op, value, kind in re.findall(r"([<≤≥])\s*([\d.]+)\s*(×|ms|s|fps)", target):
        value = float(value)
        if kind == "×":
            got = ratio
        elif kind == "fps":
            got = 1 / ours
        else:
            got = ours * (1e3 if kind == "ms" else 1)
        if got is None:
            continue
        checks.append(got < value if op == "<" else got <= value if op == "≤" else got >= value)
    if not checks:
        return target
    return f"{target}: {'met' if all(checks) else '**missed**'}"


def table(rows: list[dict], where: str, today: str) -> str:
    lines = ["| measure | ours | baseline | ratio | target | notes | machine | date |",
             "|---|---:|---|---:|---|---|---|---|"]
    for r in rows:
        unit = r.get("unit", "s")
        base = "—" if r["baseline"] is None else f"{r['baseline_name']}: {fmt(r['baseline'], unit)}"
        lines.append(f"| {r['name']} | {fmt(r['ours'], unit)} | {base} | {ratio_text(r['ratio'])} "
                     f"| {met(r)} | {r.get('note') or ''} | {where} | {today} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="sizes up to 2k layers, no risk-quality seeds (a few minutes)")
    parser.add_argument("--seeds", type=int, default=10, help="risk-quality seeds (default 10)")
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    parser.add_argument("--only", default="",
                        help="comma-separated section keys (frontend, graph, patch, sample, "
                             "risk_view): rerun those and replace their sections in RESULTS.md")
    args = parser.parse_args()
    sizes = (10, 100, 1000, 2000) if args.quick else (10, 100, 1000, 2000, 10_000)

    import bench_frontend
    import bench_graph
    import bench_patch
    import bench_risk_view
    import bench_sample

    sections: list[tuple[str, str, object]] = [
        ("frontend", "Graph view: first paint and interaction (headless Chromium) vs plot_model",
         lambda: bench_frontend.main(sizes)),
        ("graph", "to_graph vs layer count", lambda: bench_graph.main(sizes)),
        ("patch", "LoRA on a 24-block transformer", bench_patch.main),
        ("sample", "Risk wrappers vs separate calls and models", bench_sample.main),
        ("risk_view", "Risk plot update", bench_risk_view.main),
    ]
    today = datetime.date.today().isoformat()
    where = machine()
    if args.only:
        keys = set(args.only.split(","))
        text = RESULTS.read_text()
        for key, title, run in sections:
            if key not in keys:
                continue
            print(f"## {title}", flush=True)
            block = f"## {title}\n\n{table(run(), where, today)}\n\n"
            pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## )", re.S | re.M)
            text, n = pattern.subn(lambda _m, b=block: b, text)
            if not n:
                raise SystemExit(f"no section {title!r} in {RESULTS}")
        # The hand-written analysis follows the rerun sections' numbers: take it from NOTES.md.
        if notes_path().exists():
            notes = notes_path().read_text().strip() + "\n\n"
            pattern = re.compile(r"^## Targets missed, and why\n.*?(?=^## |\Z)", re.S | re.M)
            text = pattern.sub(lambda _m: notes, text)
        if not args.no_write:
            RESULTS.write_text(text)
            print(f"wrote {RESULTS} (sections {sorted(keys)} rerun)")
        return 0
    out = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`.venv/bin/python bench/run_all.py"
        f"{' --quick' if args.quick else ''}`); do not edit by hand. Every ratio is ours / "
        "baseline, both measured in the same process on the same machine (best of several runs "
        "after a warm-up unless a note says otherwise): below 1× means we are faster. Models "
        "are built in code (`bench/bench_models.py`): N-layer stacks of CompositeLayer blocks "
        "(9 Dense + a residual Add each), CompositeLayers nested 8 deep, and the demo "
        "functional transformer with 24 blocks.",
        "",
        f"Machine: {where}; {versions()}; {today}. The machine is shared: absolute times are "
        "noisy, the ratios less so.",
        "",
    ]
    failures = 0
    for _key, title, run in sections:
        print(f"## {title}", flush=True)
        start = time.perf_counter()
        try:
            rows = run()
            out += [f"## {title}", "", table(rows, where, today), ""]
        except Exception:
            failures += 1
            tb = traceback.format_exc()
            print(tb, flush=True)
            out += [f"## {title}", "", "This benchmark failed:", "", "```", tb.strip(), "```", ""]
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)
    out += [notes_path().read_text().strip(), ""] if notes_path().exists() else []
    if not args.quick and args.seeds > 0:
        import bench_risk_quality

        print(f"## Risk quality over {args.seeds} seeds", flush=True)
        tables = bench_risk_quality.main(args.seeds, ("notebook", "suite"))
        out += [f"## Risk quality over {args.seeds} seeds", ""]
        for t in tables:
            out += [t, ""]
    else:
        out += ["## Risk quality over 10 seeds", "",
                "Not run in this generation (`--quick` or `--seeds 0`); `make bench` runs it "
                "(`bench/bench_risk_quality.py`, about 15 minutes).", ""]
    if not args.quick:
        import bench_posthoc

        title = "## Post-hoc risk: conformal, temperature, last-layer Laplace"
        print(title, flush=True)
        out += [title, "", "`bench/bench_posthoc.py` (5 seeds, 40 epochs; times in seconds).",
                "", bench_posthoc.main([]).strip(), ""]
    # Sections of the old RESULTS.md that this script does not generate (written by hand
    # for other benchmarks) are kept, after the generated ones.
    generated = {line for line in out if line.startswith("## ")}
    generated.add("## Targets missed, and why")
    for block in kept_sections():
        if block.splitlines()[0] not in generated and not block.startswith("## Risk quality"):
            out += [block.rstrip(), ""]
    if not args.no_write:
        RESULTS.write_text("\n".join(out))
        print(f"wrote {RESULTS}")
    return 1 if failures else 0


def kept_sections() -> list[str]:
    """The ``## `` sections of the current RESULTS.md, each as its text."""
    if not RESULTS.exists():
        return []
    text = RESULTS.read_text()
    return [m.group(0) for m in re.finditer(r"^## .*?(?=^## |\Z)", text, re.S | re.M)]


def notes_path() -> pathlib.Path:
    """Hand-written analysis (targets missed and why) appended to the generated tables."""
    return HERE / "NOTES.md"


if __name__ == "__main__":
    sys.exit(main())
