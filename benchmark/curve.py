"""`synthgap benchmark curve RUN_DIR`: how many photos do I need?

On nested subsets of the run's exposed photos (N = 5, 10, 20 and all of them by default; the first N of one
seeded order, so every subset holds the smaller ones) it trains, per N, the detector on the N photos alone
(regime real) and the recommended set's detector fine-tuned on them (regime finetune, from that set's synthetic
cell, whose epoch the same N photos choose), scores both on the run's test photos, and plots mAP50-95 against N
with 95 % bootstrap intervals over the test photos. The recommended set is the one of the run's verdict
(RUN_DIR/recommended.json, else by mean D_B: benchmark/verdict.py); never chosen on test mAP.

RUN_DIR/curve/: n<N>.split.json (the subset and the run's test ids), n<N>/ (a benchmark run dir each, resumable:
a rerun trains only the missing cells), curve.json ({"set", "detector", "seeds", "order_seed", "points": [{"n",
"real": {"map", "ci"}, "finetune": {"map", "ci"}}]}), curve.md, curve.html, report_files/curve.png.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from core.errors import UserError
from core.io import atomic_write_json, read_json

SIZES = (5, 10, 20)


def nested_subsets(exposed: list[int], sizes=SIZES, seed: int = 0) -> dict[int, list[int]]:
    """{N: the first N exposed ids of one seeded order} for each size below the count, and all of them."""
    import numpy as np
    order = [int(i) for i in np.random.default_rng(seed).permutation(sorted(exposed))]
    ns = sorted({int(n) for n in sizes if 0 < int(n) < len(order)} | {len(order)})
    return {n: sorted(order[:n]) for n in ns}


def _recommended(run_dir: Path, data: dict) -> tuple[str, str]:
    """(the recommended set, its dataset dir) of the benchmark run."""
    from benchmark.summary import summarize
    from benchmark.verdict import recommend_by_db
    path = run_dir / "recommended.json"
    rec = read_json(path, "recommendation") if path.exists() else recommend_by_db(summarize(data))
    name = rec.get("recommended")
    if name not in data["run"].get("variants", {}):
        raise UserError(f"{run_dir}: no recommended synthetic set to fine-tune from ({name!r} is not among the "
                        "run's variants)")
    return name, data["run"]["variants"][name]


def _point(out: Path, name: str, det: str, B: int) -> dict:
    from benchmark.intervals import Intervals
    from benchmark.summary import load_run, summarize
    data = load_run(out)
    summ, iv = summarize(data), Intervals(out, data["run"], B)
    point = {}
    for key, row, group in (("real", "real", "alone"), ("finetune", name, "finetune")):
        d = summ.cell(row, group, det)
        point[key] = None if d is None else {"map": d.map.mean, "ci": iv.cell(d.cells).get("map")}
    iv.save()
    return point


def run_curve(run_dir: str | Path, sizes=SIZES, detector: str | None = None, seeds: list[int] | None = None,
              B: int = 300, order_seed: int = 0) -> Path:
    """The module docstring's curve. -> RUN_DIR/curve/curve.md."""
    from benchmark.report import load_run
    from benchmark.run import RunSpec, run_matrix
    from core.coco import load_split
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    run = data["run"]
    name, dataset_dir = _recommended(run_dir, data)
    det = detector or run["detectors"][0]
    seeds = list(seeds or run.get("seeds") or [0])
    split = load_split(run["split"])
    base = {f.name: run[f.name] for f in dataclasses.fields(RunSpec) if f.name in run and f.name not in (
        "variants", "split", "out", "detectors", "seeds", "regimes", "real_baseline", "accept_changed")}
    points = []
    for n, ids in nested_subsets(list(split.exposed), sizes, order_seed).items():
        sp = run_dir / "curve" / f"n{n:03d}.split.json"
        atomic_write_json(sp, {"exposed": ids, "test": list(split.test)})
        out = run_dir / "curve" / f"n{n:03d}"
        run_matrix(RunSpec(**base, variants=[(name, dataset_dir)], split=str(sp), out=str(out), detectors=[det],
                           seeds=seeds, regimes=["real", "finetune"], real_baseline=True))
        points.append({"n": n, **_point(out, name, det, B)})
    res = {"set": name, "detector": det, "seeds": seeds, "order_seed": order_seed, "points": points}
    atomic_write_json(run_dir / "curve" / "curve.json", res)
    return _write(run_dir / "curve", res)


def _png(res: dict) -> bytes | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.figures import fig_png as to_png
    fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
    for key, label in (("real", "the photos alone"), ("finetune", f"{res['set']}, fine-tuned on them")):
        pts = [(p["n"], p[key]) for p in res["points"] if p.get(key) and p[key]["map"] is not None]
        if not pts:
            continue
        ys = [c["map"] for _, c in pts]
        lo = [c["map"] - (c["ci"] or [c["map"]])[0] for _, c in pts]
        hi = [(c["ci"] or [0, c["map"]])[1] - c["map"] for _, c in pts]
        ax.errorbar([n for n, _ in pts], ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks([p["n"] for p in res["points"]], [str(p["n"]) for p in res["points"]])
    ax.set_xlabel("exposed photos N")
    ax.set_ylabel(f"test mAP50-95 ({res['detector']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return to_png(fig)


def _write(out: Path, res: dict) -> Path:
    from benchmark.report import save_report

    def cell(c):
        return "-" if not c or c["map"] is None else f"{c['map']:.3f}" + (
            f" [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" if c.get("ci") else "")
    md = ["# How many photos do I need?", "",
          f"{res['detector']}, seeds {res['seeds']}: trained on the first N exposed photos alone, and "
          f"{res['set']}'s detector (the recommended set) fine-tuned on them; test mAP50-95 [95 % bootstrap "
          "interval over the test photos].", "", "| N | photos alone | fine-tuned |", "|---|---|---|"]
    md += [f"| {p['n']} | {cell(p.get('real'))} | {cell(p.get('finetune'))} |" for p in res["points"]]
    png = _png(res)
    figs = [("curve.png", "mAP50-95 against N", png)] if png else []
    md += ["", "![mAP50-95 against N](report_files/curve.png)"] if png else []
    return save_report(out, "curve", "synthgap benchmark curve", md, figs)
