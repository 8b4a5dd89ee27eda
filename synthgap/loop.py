"""The closed loop (`synthgap run`) and the offline demo (`synthgap demo`).

    1. metadata of the real *exposed* images -> GMM/silhouette fit         RUN/fit.json
    2. a small probe render per grid config                                RUN/probes/<config>/
    3. selection -> render plan -> the aligned set                         RUN/plan.yaml, RUN/sets/aligned/
    4. comparison sets with the same budget: baseline (random sampling over the grid's whole ranges,
       floating placement, no control of object size), filtered (baseline minus images that show an object
       under 50 px), on-surface (baseline with surface placement)          RUN/sets/<variant>/
    5. distances of every set to the real exposed split + the benchmark + the report
                                                                           RUN/distances.json, RUN/benchmark/
Every stage writes its outputs atomically (dataset dirs get DONE last) and is skipped on rerun when complete,
so a killed run resumes where it stopped. This module only calls the entry points of render, align and
benchmark (docs/design.md §8).
"""
from __future__ import annotations

import argparse
import math
import os
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from core.io import atomic_write_json, atomic_write_text, load_yaml, read_json

DEFAULTS = Path(__file__).resolve().parent / "defaults"
COMPARISON = ("baseline", "filtered", "on-surface")
# selector method (align.select) -> (aligned variant, its plan file)
SELECTORS = {"component": ("aligned", "plan.yaml"), "mixture": ("aligned-mix", "plan-mix.yaml")}
VARIANTS = (*COMPARISON, *(v for v, _ in SELECTORS.values()))


def variants_of(selectors: list[str]) -> list[str]:
    return [*COMPARISON, *(SELECTORS[m][0] for m in SELECTORS if m in selectors)]


def log(msg: str) -> None:
    print(f"[synthgap {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class RunOptions:
    real_json: Path
    images: Path
    split: Path
    grid: Path
    out: Path
    category: str | None = None
    total: int = 200
    probe_n: int = 12
    metadata: list[str] | None = None      # None: area_frac, cy (+ depth when the target has it)
    mode: str = "1d"
    kmax: int = 5
    workers: int = 2
    backend: str = "local"
    ray_address: str | None = None
    detectors: list[str] = field(default_factory=lambda: ["yolo"])
    epochs: int = 30
    seeds: list[int] = field(default_factory=lambda: [0])
    imgsz: int = 320
    min_px: float = 50.0
    seed: int = 0
    benchmark: bool = True
    real_baseline: bool = True
    selectors: list[str] = field(default_factory=lambda: ["component", "mixture"])
    bench_variants: list[str] | None = None   # None: every set


# ---- grid helpers ------------------------------------------------------------------------------------
def _is_range(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)


def baseline_mapping(grid_mapping: dict[str, Any]) -> dict[str, Any]:
    """The thesis' baseline from a grid: every gridded range becomes the union of its grid values (random
    sampling over the whole space, no control of object size), other gridded values take the first one,
    and placement is floating."""
    def walk(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"grid"}:
            vals = v["grid"]
            if vals and all(_is_range(x) for x in vals):
                return [min(x[0] for x in vals), max(x[1] for x in vals)]
            return vals[0]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v
    out = walk(copy.deepcopy(grid_mapping))
    out["placement"] = "floating"
    return out


def deep_update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _stage(name: str, done: bool) -> bool:
    """Log a stage start (or its skip); True when it must run."""
    log(f"stage {name}: {'complete, skipped' if done else 'running'}")
    return not done


def _check_run_json(opts: RunOptions, grid_mapping: dict[str, Any]) -> None:
    """RUN/run.json pins what the stages' outputs depend on, so a rerun resumes the same run and a rerun with
    other inputs is refused instead of mixing two runs in one folder."""
    key = {"real_json": str(Path(opts.real_json).resolve()), "split": str(Path(opts.split).resolve()),
           "category": opts.category, "grid": grid_mapping, "total": opts.total, "probe_n": opts.probe_n,
           "metadata": opts.metadata, "mode": opts.mode, "kmax": opts.kmax, "min_px": opts.min_px,
           "seed": opts.seed}
    path = opts.out / "run.json"
    if path.exists():
        old = read_json(path, "run record").get("key", {})
        diff = sorted(k for k in key if old.get(k) != key[k])
        if diff:
            raise UserError(f"{path}: this run folder was started with other {', '.join(diff)}; rerun with the "
                            "original options to resume, or choose a new --out")
        return
    opts.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"key": key, "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def _render(what: Any, n: int | None, out: Path, opts: RunOptions, seed: int) -> Path:
    from render.api import render_dataset
    kw: dict[str, Any] = {}
    if opts.backend == "ray" and opts.ray_address:
        kw["ray_address"] = opts.ray_address
    return render_dataset(what, n, out, workers=opts.workers, seed=seed, backend=opts.backend, **kw)


# ---- the closed loop ---------------------------------------------------------------------------------
def run(opts: RunOptions, context: dict[str, Any] | None = None) -> Path:
    """All stages of `synthgap run`; returns RUN/report.md. `context` adds demo facts to the report."""
    from core.coco import load_split
    from align.distances import compare_tables
    from align.gmm import Fit, fit_gmm
    from align.metadata import MetadataTable, compute_metadata, metadata_for_dir
    from align.select import load_probes, select_configs
    from render.config import SceneConfig
    from render.grid import expand_grid
    from synthgap.variants import filter_small_objects

    t0 = time.time()
    out = opts.out
    grid_mapping = load_yaml(opts.grid, "grid YAML")
    if not isinstance(grid_mapping, dict):
        raise UserError(f"{opts.grid}: key '<top>': a grid must be a mapping")
    configs = expand_grid(opts.grid)
    if not Path(opts.real_json).is_file():
        raise UserError(f"{opts.real_json}: --real COCO json not found")
    if not Path(opts.images).is_dir():
        raise UserError(f"{opts.images}: --images folder not found")
    split = load_split(opts.split)          # every input validated before run.json is written
    _check_run_json(opts, grid_mapping)

    # 1. real exposed metadata + fit
    real_meta, fit_path = out / "real_metadata.json", out / "fit.json"
    sidecar = Path(opts.real_json).parent / "sidecar.json"
    if _stage("1/5 real metadata + GMM fit", fit_path.exists() and real_meta.exists()):
        real_t = compute_metadata(opts.real_json, opts.images, category=opts.category,
                                  image_ids=list(split.exposed), sidecar=sidecar if sidecar.exists() else None,
                                  dataset="real-exposed", progress=True)
        real_t.save(real_meta)
        metadata = list(opts.metadata) if opts.metadata else ["area_frac", "cy"]
        if not opts.metadata and real_t.has("depth"):
            metadata.append("depth")
        fit = fit_gmm(real_t, metadata=metadata, mode=opts.mode, kmax=opts.kmax, seed=opts.seed)
        fit.to_json(fit_path)
    real_t = MetadataTable.load(real_meta)
    fit = Fit.load(fit_path)
    metadata = list(fit.metadata)
    log(f"real exposed: {real_t.n('image')} images, {real_t.n('bbox')} boxes; fit on {', '.join(metadata)}")

    # 2. probes
    probes_dir = out / "probes"
    pending = [c for c in configs if not (probes_dir / c.name / "DONE").exists()]
    if _stage(f"2/5 probe renders ({len(configs)} configs x {opts.probe_n} images)", not pending):
        for i, cfg in enumerate(configs):
            if cfg in pending:
                log(f"probe {i + 1}/{len(configs)}: {cfg.name}")
                _render(cfg, opts.probe_n, probes_dir / cfg.name, opts, seed=opts.seed * 1000 + 100 + i)

    # 3. selection -> plans (one per selector method) -> aligned sets
    variants = variants_of(opts.selectors)
    plans = {m: out / SELECTORS[m][1] for m in SELECTORS if m in opts.selectors}
    if _stage(f"3/5 selection -> {', '.join(p.name for p in plans.values())}",
              all(p.exists() for p in plans.values())):
        probes = load_probes(probes_dir, category=opts.category)
        for method, path in plans.items():
            if not path.exists():
                plan = select_configs(fit, probes, opts.total, real=real_t, seed=opts.seed, method=method)
                plan.to_yaml(path)
                log(f"selector {method}: " + ", ".join(f"{e['config_name']} x{e['count']}" for e in plan.entries))

    # 4. the sets
    sets = out / "sets"
    base_map = baseline_mapping(grid_mapping)
    base_cfg = SceneConfig.from_mapping(base_map, f"{opts.grid} (baseline)")
    surf_cfg = SceneConfig.from_mapping(deep_update(base_map, {"placement": "surface"}), f"{opts.grid} (on-surface)")
    todo = [v for v in variants if not (sets / v / "DONE").exists()]
    if _stage(f"4/5 render the sets ({opts.total} images each): {', '.join(variants)}", not todo):
        for method, path in plans.items():
            log(f"{SELECTORS[method][0]}: rendering {path.name} (selector {method})")
            _render(path, None, sets / SELECTORS[method][0], opts, seed=opts.seed * 1000 + 1)
        log("baseline: random sampling over the grid's ranges, floating placement")
        _render(base_cfg, opts.total, sets / "baseline", opts, seed=opts.seed * 1000 + 2)
        log("on-surface: the baseline with surface placement (same seed)")
        _render(surf_cfg, opts.total, sets / "on-surface", opts, seed=opts.seed * 1000 + 2)
        rep = filter_small_objects(sets / "baseline", sets / "filtered", min_px=opts.min_px)
        log(f"filtered: {rep.images_out}/{rep.images_in} baseline images kept (objects >= {opts.min_px:g} px)")

    # 5a. distances of every set to the real exposed split
    dist_path = out / "distances.json"
    old_dist = read_json(dist_path, "distances") if dist_path.exists() else {}
    if _stage("5/5 distances", all(v in old_dist for v in variants)):
        dist: dict[str, Any] = dict(old_dist)
        for v in [v for v in variants if v not in old_dist]:
            t = metadata_for_dir(sets / v, category=opts.category, dataset=v)
            res = compare_tables(real_t, t, metadata=metadata, level="bbox")
            dbs = {m: (None if r.db is None else float(r.db)) for m, r in res.items()}
            finite = [x for x in dbs.values() if x is not None and math.isfinite(x)]
            dist[v] = {"db": dbs, "w1": {m: (None if r.w1 is None else float(r.w1)) for m, r in res.items()},
                       "mean_db": (sum(finite) / len(finite)) if finite else None,
                       "images": t.n("image"), "boxes": t.n("bbox")}
        atomic_write_json(dist_path, dist)

    # 5b. benchmark
    bench_dir = out / "benchmark"
    if opts.benchmark:
        from benchmark.report import write_report
        from benchmark.run import RunSpec, run_matrix
        dist = read_json(dist_path, "distances")
        empty = [v for v in variants if not dist[v]["images"]]
        skip = [v for v in variants if opts.bench_variants is not None and v not in opts.bench_variants]
        if skip:
            log(f"benchmark: {', '.join(skip)} left out (--bench-variants)")
        if empty:
            log(f"benchmark: {', '.join(empty)} holds no image of the category, not trained")
        log("benchmark: training on every set (finished cells are skipped)")
        run_matrix(RunSpec(variants=[(v, str(sets / v)) for v in variants if v not in empty and v not in skip],
                           real_json=str(opts.real_json),
                           images_dir=str(opts.images), split=str(opts.split), out=str(bench_dir),
                           detectors=list(opts.detectors), epochs=opts.epochs, seeds=list(opts.seeds),
                           imgsz=opts.imgsz, category=opts.category, real_baseline=opts.real_baseline,
                           metadata=metadata))
        write_report(bench_dir)
    report = write_run_report(out, opts, context or {})
    log(f"done in {time.time() - t0:.0f} s; report: {report} (and {report.with_suffix('.html')})")
    return report


# ---- the run's own report ----------------------------------------------------------------------------
def _fmt(x: Any, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _short(text: str, n: int = 150) -> str:
    text = str(text).replace("|", "/")
    return text if len(text) <= n else text[:n] + " ... (plan.yaml has it all)"


def _config_brief(cfg: dict[str, Any]) -> str:
    cam = cfg.get("camera", {})
    return (f"distance {cam.get('distance')}, elevation {cam.get('elevation_deg')}, "
            f"{cfg.get('placement')}, {cfg.get('objects_per_scene')} objects")


def benchmark_summary(bench_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{variant: {detector: {"map": mean, "map_std", "ap50", "n"}}} from results/*.json."""
    import statistics
    cells: dict[tuple[str, str], list[dict]] = {}
    for p in sorted((bench_dir / "results").glob("*.json")) if (bench_dir / "results").exists() else []:
        r = read_json(p, "results record")
        cells.setdefault((r["variant"], r["detector"]), []).append(r["test"])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (v, d), tests in cells.items():
        maps, ap50 = [t["map"] for t in tests], [t["ap50"] for t in tests]
        out.setdefault(v, {})[d] = {"map": statistics.fmean(maps), "ap50": statistics.fmean(ap50),
                                    "map_std": statistics.pstdev(maps) if len(maps) > 1 else 0.0, "n": len(maps)}
    return out


def write_run_report(out: Path, opts: RunOptions, context: dict[str, Any]) -> Path:
    """RUN/report.md + RUN/report.html: distances, the plans, (demo) hidden vs recovered mixture, mAP."""
    import yaml
    from scipy.stats import spearmanr

    dist = read_json(out / "distances.json", "distances")
    plans = {m: yaml.safe_load((out / f).read_text()) for m, (_, f) in SELECTORS.items() if (out / f).exists()}
    variants = [v for v in VARIANTS if v in dist]
    fit = read_json(out / "fit.json", "fit")
    md = ["# synthgap run report", ""]
    if context.get("stand_in"):
        md += ["> **The target here is a synthetic stand-in for your real photos** (the demo): it was rendered "
               "from a hidden mixture of grid configs that the selector never saw; the selector only saw its "
               "*exposed* images and boxes. Run `synthgap demo --real ...` or `synthgap run` on your photos.", ""]
    md += [f"Target: `{opts.real_json}` (exposed split of `{opts.split}`), category {opts.category or 'all'}. "
           f"Grid `{opts.grid}`; {opts.total} images per set, probe renders of {opts.probe_n} images per config.",
           "",
           f"GMM fit on {', '.join(fit.get('metadata', []))} (mode {fit.get('mode')}): K={fit.get('k')}"
           + (f" ({fit['k_reason']})" if fit.get("k_reason") else "") + ".", "",
           "Sets: **baseline** random sampling over the grid's whole ranges, floating placement; **filtered** the "
           f"baseline without images showing an object under {opts.min_px:g} px; **on-surface** the baseline with "
           "surface placement; **aligned** the thesis' selector (per GMM component the config closest in mean "
           "and variance, counts from the component weights); **aligned-mix** synthgap's mixture selector (the "
           "share of every probed config by maximum likelihood of the real rows).", "",
           "## Distance to the target's exposed images (Bhattacharyya D_B, lower is closer)", ""]
    metas = [m for m in fit.get("metadata", []) if any(m in dist[v]["db"] for v in variants)]
    metas += sorted({m for v in variants for m in dist[v]["db"]} - set(metas))
    md += ["| set | images | boxes | " + " | ".join(f"D_B {m}" for m in metas) + " | mean D_B |",
           "|---" * (len(metas) + 4) + "|"]
    for v in variants:
        d = dist[v]
        md.append(f"| {v} | {d['images']} | {d['boxes']} | " + " | ".join(_fmt(d["db"].get(m)) for m in metas)
                  + f" | {_fmt(d['mean_db'])} |")
    b = dist.get("baseline", {}).get("mean_db")
    for method, plan in plans.items():
        v = SELECTORS[method][0]
        a = dist.get(v, {}).get("mean_db")
        pred = {m: x for m, x in (plan.get("predicted_db") or {}).items() if m in metas}
        line = f"- **{v}** (selector {method}): "
        if a is not None and b is not None:
            line += f"mean D_B {a:.3f} vs baseline {b:.3f}: " + (
                "closer to the target than the baseline." if a < b else "NOT closer than the baseline on this run.")
        if pred:
            line += " Predicted from the probes: " + ", ".join(f"{m} {_fmt(x)}" for m, x in pred.items()) + "."
        md += ["", line] if method == next(iter(plans)) else [line]
    md.append("")
    for method, plan in plans.items():
        md += ["", f"## Render plan of the {method} selector ({SELECTORS[method][1]} -> sets/{SELECTORS[method][0]})",
               "", "| config | count | component | settings | why |", "|---|---|---|---|---|"]
        for e in plan["entries"]:
            comp = e.get("component") or "-"
            md.append(f"| {e['config_name']} | {e['count']} | {comp} | "
                      f"{_config_brief(e['config'])} | {_short(e.get('why', ''))} |")
    hidden = context.get("hidden_mixture")
    if hidden:
        recs = {}
        for method, plan in plans.items():
            rec: dict[str, float] = {}
            for e in plan["entries"]:
                rec[e["config_name"]] = rec.get(e["config_name"], 0) + e["count"] / plan["total"]
            recs[method] = rec
        md += ["", "## Hidden mixture vs recovered mixture", "",
               "| config | settings | hidden weight | " + " | ".join(f"recovered ({m})" for m in recs) + " |",
               "|---" * (3 + len(recs)) + "|"]
        names = sorted(set(hidden).union(*[set(r) for r in recs.values()]) | set(context.get("config_brief", {})))
        for name in names:
            brief = context.get("config_brief", {}).get(name, "")
            md.append(f"| {name} | {brief} | {hidden.get(name, 0.0):.2f} | "
                      + " | ".join(f"{r.get(name, 0.0):.2f}" for r in recs.values()) + " |")
        for method, rec in recs.items():
            err = 0.5 * sum(abs(hidden.get(n, 0.0) - rec.get(n, 0.0)) for n in names)
            md.append(f"\nTotal variation distance hidden vs {method}: {err:.2f} (0 = exact recovery).")
    summ = benchmark_summary(out / "benchmark")
    if summ:
        dets = sorted({d for v in summ.values() for d in v})
        md += ["", "## Detectors trained on each set, scored on the target's test images", "",
               "| set | " + " | ".join(f"{d} mAP50-95 | {d} AP50" for d in dets) + " |",
               "|---" * (1 + 2 * len(dets)) + "|"]
        for v in [*variants, *sorted(set(summ) - set(variants))]:
            if v not in summ:
                continue
            row = []
            for d in dets:
                c = summ[v].get(d)
                row += ([f"{c['map']:.4f} ± {c['map_std']:.4f} (n={c['n']})", f"{c['ap50']:.4f}"] if c
                        else ["-", "-"])
            md.append(f"| {v} | " + " | ".join(row) + " |")
        for d in dets:
            pts = [(dist[v]["mean_db"], summ[v][d]["map"]) for v in variants
                   if v in summ and d in summ[v] and dist[v]["mean_db"] is not None]
            if len(pts) >= 3:
                rho = spearmanr([p[0] for p in pts], [p[1] for p in pts]).statistic
                md.append(f"\nSpearman correlation of mean D_B with {d} mAP over the {len(pts)} synthetic sets: "
                          f"{_fmt(float(rho), 2)} (negative = closer sets train better detectors).")
        md += ["", "Full benchmark report (per-metadata correlations, histograms, sample detections): "
               "[benchmark/report.html](benchmark/report.html)."]
    elif opts.benchmark:
        md += ["", "No benchmark results yet."]
    text = "\n".join(md) + "\n"
    path = out / "report.md"
    atomic_write_text(path, text)
    from benchmark.report import _html
    atomic_write_text(out / "report.html", _html(text, {}))
    for p in (path, out / "report.html"):
        os.chmod(p, 0o644)
    return path


# ---- CLI: synthgap run -------------------------------------------------------------------------------
def _common_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--total", type=int, default=None, help="images per rendered set")
    ap.add_argument("--probe-n", type=int, default=None, help="probe images per grid config")
    ap.add_argument("--metadata", default=None, help="comma list of metadata to align (default area_frac,cy "
                    "+ depth when the target has it)")
    ap.add_argument("--mode", choices=("1d", "joint"), default=None, help="GMM per metadata or joint")
    ap.add_argument("--kmax", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2, help="render worker processes / Ray tasks at once")
    ap.add_argument("--backend", choices=("local", "ray"), default="local", help="render backend")
    ap.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance)")
    ap.add_argument("--detectors", default=None, help="comma list of yolo, frcnn")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", default=None, help="training seeds: a count (2 = 0,1) or a list 0,5")
    ap.add_argument("--imgsz", type=int, default=None)
    ap.add_argument("--min-px", type=float, default=None, help="filtered variant: drop objects under this")
    ap.add_argument("--seed", type=int, default=None, help="master seed of the renders and the fit")
    ap.add_argument("--selectors", default=None, help="comma list of component (the thesis' selector -> "
                    "sets/aligned) and mixture (synthgap's -> sets/aligned-mix); default both")
    ap.add_argument("--bench-variants", default=None, help="comma list of the sets to train detectors on "
                    "(default: all)")
    ap.add_argument("--no-benchmark", action="store_true", help="stop after the distances")
    ap.add_argument("--no-real-baseline", action="store_true", help="no detector trained on the real exposed set")


def _seeds(s: str) -> list[int]:
    try:
        if "," in s:
            return [int(x) for x in s.split(",") if x.strip()]
        return list(range(int(s)))
    except ValueError:
        raise UserError(f"--seeds: expected a count or a comma list of integers, got {s!r}") from None


def _apply(opts: RunOptions, args: argparse.Namespace) -> RunOptions:
    for k in ("total", "probe_n", "mode", "kmax", "epochs", "imgsz", "min_px", "seed"):
        v = getattr(args, k)
        if v is not None:
            setattr(opts, k, v)
    if args.metadata:
        opts.metadata = [m.strip() for m in args.metadata.split(",") if m.strip()]
    if args.detectors:
        opts.detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    if args.seeds:
        opts.seeds = _seeds(args.seeds)
    if args.bench_variants:
        opts.bench_variants = [v.strip() for v in args.bench_variants.split(",") if v.strip()]
        bad = [v for v in opts.bench_variants if v not in VARIANTS]
        if bad:
            raise UserError(f"--bench-variants: unknown {bad} (choose from {', '.join(VARIANTS)})")
    if args.selectors:
        opts.selectors = [m.strip() for m in args.selectors.split(",") if m.strip()]
        bad = [m for m in opts.selectors if m not in SELECTORS]
        if bad or not opts.selectors:
            raise UserError(f"--selectors: unknown {bad or 'none given'} (choose from {', '.join(SELECTORS)})")
    opts.workers, opts.backend, opts.ray_address = args.workers, args.backend, args.ray_address
    opts.benchmark = not args.no_benchmark
    opts.real_baseline = not args.no_real_baseline
    if opts.total < 1 or opts.probe_n < 1:
        raise UserError("--total and --probe-n must be >= 1")
    return opts


def run_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="synthgap run", description="The closed loop: fit the real exposed "
                                 "metadata, probe-render a grid, select configs, render aligned + comparison "
                                 "sets, benchmark them, report. Rerun the same command to resume.")
    ap.add_argument("--real", required=True, help="real COCO json")
    ap.add_argument("--images", required=True, help="folder of the real images")
    ap.add_argument("--split", required=True, help="split.json with exposed / test image ids")
    ap.add_argument("--category", default=None, help="class to align and benchmark (e.g. bottle)")
    ap.add_argument("--grid", required=True, help="grid YAML (SceneConfig with {grid: [...]} values)")
    ap.add_argument("--out", required=True, help="run folder")
    _common_args(ap)
    args = ap.parse_args(argv)
    opts = _apply(RunOptions(real_json=Path(args.real), images=Path(args.images), split=Path(args.split),
                             grid=Path(args.grid), out=Path(args.out), category=args.category), args)
    run(opts)
    return 0


# ---- synthgap demo -----------------------------------------------------------------------------------
def _hidden_plan(grid_mapping: dict[str, Any], target: dict[str, Any], source: str) -> tuple[dict, dict, dict]:
    """The stand-in target's render plan and, per grid config it matches, its hidden weight."""
    from render.config import SceneConfig
    from render.grid import expand_grid
    n = int(target.get("images", 0))
    mix = target.get("mixture") or []
    if n < 2 or not mix:
        raise UserError(f"{source}: key 'images'/'mixture': need images >= 2 and a non-empty mixture")
    grid_by_key = {}
    briefs = {}
    for cfg in expand_grid(grid_mapping):
        m = cfg.to_mapping()
        m.pop("seed", None)
        grid_by_key[json.dumps(m, sort_keys=True)] = cfg.name
        briefs[cfg.name] = _config_brief(cfg.to_mapping())
    weights = [float(e.get("weight", 0)) for e in mix]
    if any(w <= 0 for w in weights):
        raise UserError(f"{source}: key 'mixture.weight': every weight must be > 0")
    counts = [int(n * w / sum(weights)) for w in weights]
    for i in sorted(range(len(mix)), key=lambda i: -(n * weights[i] / sum(weights) - counts[i]))[: n - sum(counts)]:
        counts[i] += 1
    entries, hidden = [], {}
    for e, c in zip(mix, counts):
        m = deep_update(baseline_mapping(grid_mapping), e.get("overrides") or {})
        m["placement"] = grid_mapping.get("placement", "surface")
        m["seed"] = int(e.get("seed", 0))
        cfg = SceneConfig.from_mapping(m, f"{source} (mixture entry)")
        key = dict(cfg.to_mapping())
        key.pop("seed", None)
        name = grid_by_key.get(json.dumps(key, sort_keys=True), f"(not in grid) {cfg.name}")
        hidden[name] = hidden.get(name, 0.0) + c / n
        entries.append({"config": cfg.to_mapping(), "config_name": cfg.name, "count": c})
    return {"total": n, "entries": entries}, hidden, briefs


def _make_split(coco_json: Path, out: Path, frac: float, seed: int) -> None:
    import numpy as np
    ids = sorted(im["id"] for im in read_json(coco_json, "COCO")["images"])
    perm = [int(i) for i in np.random.default_rng(seed).permutation(ids)]
    k = max(1, int(round(len(ids) * frac)))
    atomic_write_json(out, {"exposed": sorted(perm[:k]), "test": sorted(perm[k:])})


def demo_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="synthgap demo", description="Offline demo on embedded defaults: renders "
                                 "a synthetic stand-in target from a hidden mixture of configs, then runs the "
                                 "whole loop against it (or, with --real, against your photos).")
    ap.add_argument("--out", default="runs/demo", help="run folder (rerun to resume; default runs/demo)")
    ap.add_argument("--grid", default=str(DEFAULTS / "demo_grid.yaml"))
    ap.add_argument("--target", default=str(DEFAULTS / "demo_target.yaml"), help="hidden mixture of the stand-in")
    ap.add_argument("--real", default=None, help="your COCO json (switches the demo to your photos)")
    ap.add_argument("--images", default=None)
    ap.add_argument("--split", default=None)
    ap.add_argument("--category", default="bottle")
    _common_args(ap)
    args = ap.parse_args(argv)
    out = Path(args.out)
    grid = Path(args.grid)
    context: dict[str, Any] = {}
    if args.real:
        if not (args.images and args.split):
            raise UserError("--real needs --images and --split")
        real_json, images, split = Path(args.real), Path(args.images), Path(args.split)
    else:
        grid_mapping = load_yaml(grid, "grid YAML")
        target = load_yaml(Path(args.target), "demo target")
        plan, hidden, briefs = _hidden_plan(grid_mapping, target, args.target)
        tdir = out / "target"
        log(f"stand-in target: {plan['total']} images from a hidden mixture of {len(plan['entries'])} configs "
            "(a synthetic stand-in for your real photos)")
        from render.api import render_dataset
        render_dataset(plan, None, tdir, workers=args.workers, seed=int(target.get("seed", 4242)),
                       backend=args.backend)
        real_json, images, split = tdir / "coco_annotations.json", tdir, out / "target_split.json"
        if not split.exists():
            _make_split(real_json, split, float(target.get("exposed_fraction", 0.5)), int(target.get("seed", 4242)))
        context = {"stand_in": True, "hidden_mixture": hidden, "config_brief": briefs}
    # Small scale: 64 images per set, yolov8n from scratch for 60 epochs at 128 px (Faster R-CNN with its
    # ImageNet backbone learns more per epoch but costs ~4x more per epoch on a CPU); the filtered variant's
    # 50 px rule scaled to the renders.
    res = load_yaml(grid, "grid YAML").get("resolution", [640, 480])
    opts = RunOptions(real_json=real_json, images=images, split=split, grid=grid, out=out, category=args.category,
                      total=64, probe_n=12, epochs=60, imgsz=128, detectors=["yolo"], seeds=[0],
                      min_px=max(4.0, round(50.0 * max(res) / 640.0)))
    opts = _apply(opts, args)
    report = run(opts, context)
    print(f"\nsynthgap demo: report at {report} and {report.with_suffix('.html')}")
    return 0
