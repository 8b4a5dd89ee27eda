"""`synthgap zoo`: a variant zoo - many synthetic sets of equal image count, each with its distances to the
real exposed images and the test mAP of detectors trained on it - and what it shows: which distances rank the
sets like their mAP, and a training-free quality score (align/quality.py) checked on held-out sets.

Stages (each resumable; OUT is a run folder of `synthgap run`, the zoo lives in OUT/zoo/):
    1. the run's stages 1-4 and its distances (fit, probes, selection, sets; no benchmark)       OUT/...
    2. the zoo's sets, N images each (N = --zoo-images, default --total)                        OUT/zoo/sets/<set>/
       - every set of the run holding >= N images, cut to N drawn at random (seeded; a smaller set is left
         out, said in the log and the report);
       - random-grid: every grid config in equal shares (a plan over the whole grid);
       - single-<config>: --singles configs of the grid: first those whose (grown) probes already hold N
         images (merged from the probe renders, nothing rendered), then others evenly spaced in the grid's
         order (rendered); a config that is a selector's whole plan is left out (that aligned set is it);
       - aligned-joint (aligned-1d when the run fits joint): the component selector on the other GMM mode.
    3. distances of every zoo set to the real exposed images: D_B and W1 of every numeric metadata both
       sides have, KID, FID, KNN precision / recall                                           OUT/zoo/distances.json
    4. the benchmark on every zoo set (the run's detectors, epochs, seeds, init; regime synthetic)  OUT/zoo/benchmark/
    5. the analysis: per-metric Spearman with mAP (permutation p, bootstrap interval), the quality score's
       held-out Spearman beside KID's, the weights (--transfer: another target's zoo scored with these
       weights and this one with its)                                       OUT/zoo/zoo.json, zoo.md, zoo.html
`synthgap run --metadata auto --zoo OUT/zoo` then aligns on the metadata whose D_B the zoo ranked as mattering,
and `--zoo` puts the quality score and predicted rank of every set in the run report and `align compare`.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.api import UserError, atomic_write_json, log, read_json

from synthgap.options import RunOptions, add_common_args, add_real_args, apply_args, parse_with_config
from synthgap.seeds import render_seed

ZOO_JSON = "zoo.json"


def zoo_dir(opts: RunOptions) -> Path:
    return opts.out / "zoo"


def _subset(src: Path, dst: Path, n: int, seed: int) -> bool:
    """dst = n images of the finished set src drawn at random (all of them when it has n); False when fewer."""
    import random

    from core.api import write_subset_dir
    ids = sorted(im["id"] for im in read_json(src / "coco_annotations.json", "COCO")["images"])
    if len(ids) < n:
        return False
    if not (dst / "DONE").exists():
        keep = set(ids) if len(ids) == n else set(random.Random(seed).sample(ids, n))
        write_subset_dir(src, dst, keep, {"zoo": f"{n} images of {src.name}"})
    return True


def _grid_plan(configs: list, n: int, path: Path) -> Path:
    """A plan over the whole grid, every config in equal shares (counts differ by at most one)."""
    from align.api import Plan, PlanEntry
    counts = [n // len(configs) + (1 if i < n % len(configs) else 0) for i in range(len(configs))]
    entries = [PlanEntry(c.to_mapping(), c.name, k, [], "random over the grid") for c, k in zip(configs, counts)]
    return Plan(total=n, entries=entries).to_yaml(path)


def _other_mode_plan(opts: RunOptions, real_t, fit, n: int, path: Path) -> Path | None:
    """The component selector's plan on the GMM fitted in the run's other mode (1d <-> joint); None when it
    picks the same configs and counts as the run's own fit at n images (the same set: not rendered twice)."""
    from align.api import fit_gmm, load_probes
    if path.exists():
        return path
    other = fit_gmm(real_t, metadata=list(fit.metadata), mode="joint" if fit.mode == "1d" else "1d",
                    kmax=opts.kmax, seed=opts.seed)
    probes = load_probes(opts.out / "probes", category=opts.category)
    sel = opts.selector("component", real_t)
    plan, own = sel.select(other, probes, n), sel.select(fit, probes, n)

    def key(p):
        return sorted((e.config_name, e.count) for e in p.entries if e.count)
    if key(plan) == key(own):
        return None
    plan.to_yaml(path)
    return path


def _same_plans(opts: RunOptions) -> dict[str, str]:
    """{aligned set: the earlier aligned set it equals} for selectors whose plans render the same set."""
    from synthgap.stages import plan_key
    from synthgap.variants import selector_sets
    seen, same = {}, {}
    for variant, plan_file in selector_sets(opts).values():
        key = plan_key(opts.out / plan_file)
        if key in seen:
            same[variant] = seen[key]
        seen.setdefault(key, variant)
    return same


def singles(configs: list, k: int) -> list:
    """k configs evenly spaced in the grid's order (all of them when the grid has <= k)."""
    if len(configs) <= k:
        return list(configs)
    return [configs[round(i * (len(configs) - 1) / (k - 1))] for i in range(k)] if k > 1 else [configs[0]]


def pick_singles(opts: RunOptions, configs: list, k: int, n: int) -> tuple[list, list[str]]:
    """The zoo's k single configs: those whose probes already hold n images (no render needed) first, then
    evenly spaced others; a config that is a selector's whole plan is not taken (it is that aligned set).
    -> (configs, notes)."""
    from align.api import Plan, probe_dirs
    from synthgap.variants import selector_sets
    whole = {}
    for variant, plan_file in selector_sets(opts).values():
        entries = [e for e in Plan.load(opts.out / plan_file).entries if e.count]
        if len(entries) == 1:
            whole[entries[0].config_name] = variant
    free = [c for c in configs if c.name not in whole and sum(
        _count(d) for d in probe_dirs(opts.out / "probes", c.name)) >= n]
    rest = [c for c in configs if c.name not in whole and c not in free]
    picked = free[:k] + singles(rest, max(0, k - len(free)))
    notes = [f"single-{c}: the whole plan of {v}, so that set already stands for it" for c, v in whole.items()]
    return picked, notes


def _count(d: Path) -> int:
    return len(read_json(d / "coco_annotations.json", "COCO")["images"])


def _single(opts: RunOptions, cfg, n: int, render):
    """-> what renders single-<config>: None when its probes hold n images (merged into the set here)."""
    from align.api import probe_dirs
    from core.api import merge_dirs
    dirs = probe_dirs(opts.out / "probes", cfg.name)
    if sum(_count(d) for d in dirs) >= n:
        merge_dirs(dirs, zoo_dir(opts) / "sets" / f"single-{cfg.name}", n, {"zoo": f"{n} probe images of {cfg.name}"})
        return "probes"
    return cfg


def build_sets(opts: RunOptions, configs: list, real_t, fit, n: int, k: int, render) -> tuple[list[str], list[str]]:
    """Stage 2. -> (the zoo's set names, notes on sets left out)."""
    from synthgap.variants import set_names
    z, names, notes = zoo_dir(opts), [], []
    sets, same = z / "sets", _same_plans(opts)
    for i, v in enumerate(set_names(opts)):
        if v in same:
            notes.append(f"{v}: the same set as {same[v]} in the run (equal plans), left out of the zoo")
            log(notes[-1])
        elif _subset(opts.out / "sets" / v, sets / v, n, render_seed(opts.seed, "zoo-subset", i)):
            names.append(v)
        else:
            notes.append(f"{v}: fewer than {n} images in the run, left out of the zoo")
            log(notes[-1])
    todo = [("random-grid", lambda: _grid_plan(configs, n, z / "plan-grid.yaml"), None, ("zoo-grid",))]
    other = "aligned-joint" if fit.mode == "1d" else "aligned-1d"
    todo.append((other, lambda: _other_mode_plan(opts, real_t, fit, n, z / f"plan-{other}.yaml"), None,
                 ("zoo-other-mode",)))
    picked, why = pick_singles(opts, configs, k, n)
    notes += why
    todo += [(f"single-{c.name}", (lambda c=c: _single(opts, c, n, render)), n, ("zoo-single", j)) for j, c in enumerate(picked)]
    for name, what, count, s in todo:
        if not (sets / name / "DONE").exists():
            src = what()
            if src is None:
                notes.append(f"{name}: its plan equals the component selector's at {n} images (the same set), "
                             "left out")
                log(notes[-1])
                continue
            if src == "probes":
                log(f"zoo set {name}: {n} images of its probe renders (no render)")
            else:
                log(f"zoo set {name}: rendering {n} images")
                render(src, count, sets / name, render_seed(opts.seed, *s))
        names.append(name)
    return names, notes


def _row(real_t, t, realism: dict | None) -> dict:
    """A set's distances: db:/w1: per numeric metadata both tables have, kid, fid, 1-precision, 1-recall."""
    from align.api import NUMERIC_METADATA, compare_tables, distance_row
    metas = [m for m in NUMERIC_METADATA if real_t.has(m, "bbox") and t.has(m, "bbox")]
    return distance_row(compare_tables(real_t, t, metadata=metas, level="bbox"), realism)


def stage_distances(opts: RunOptions, real_t, names: list[str]) -> dict:
    """Stage 3: OUT/zoo/distances.json, {set: {metric: value}}, a set at a time (resumable)."""
    from align.api import metadata_for_dir
    from synthgap.stages import realism_against_exposed
    path = zoo_dir(opts) / "distances.json"
    dist = read_json(path, "zoo distances") if path.exists() else {}
    todo = [v for v in names if v not in dist]
    realism = realism_against_exposed(opts, zoo_dir(opts) / "sets") if todo else None
    for i, v in enumerate(todo):
        log(f"zoo distances {i + 1}/{len(todo)}: {v}")
        t = metadata_for_dir(zoo_dir(opts) / "sets" / v, category=opts.category, dataset=v)
        dist[v] = _row(real_t, t, realism(v))
        atomic_write_json(path, dist)
    return dist


def stage_benchmark(opts: RunOptions, fit, names: list[str]) -> Path:
    """Stage 4: the run's detectors on every zoo set (regime synthetic), scored on the real test images."""
    from benchmark.api import run_matrix
    out = zoo_dir(opts) / "benchmark"
    run_matrix(opts.bench_spec([(v, str(zoo_dir(opts) / "sets" / v)) for v in names], out, fit.metadata,
                               regimes=["synthetic"]))
    return out


def zoo_table(bench: Path, dist: dict, detector: str, B: int) -> dict:
    """{set: {"distances", "map" (mean over seeds), "map_sd", "seeds", "map_ci" (bootstrap over test images)}}."""
    from benchmark.api import Intervals, load_run, summarize
    data = load_run(bench)
    summ, iv = summarize(data), Intervals(bench, data["run"], B)
    table = {}
    for v, d in dist.items():
        cell = summ.cell(v, "alone", detector)
        if cell and cell.scored():
            ci = iv.cell(cell.cells)
            table[v] = {"distances": d, "map": cell.map.mean, "map_sd": cell.map.sd, "seeds": cell.n,
                        "map_ci": [ci["map"][0], ci["map"][1]] if ci.get("map") else None}
    iv.save()
    real = summ.cell("real", "alone", detector)
    return {"sets": table, "real_map": real.map.mean if real else None}


def analyse(opts: RunOptions, names: list[str], notes: list[str], dist: dict, transfer: Path | None) -> dict:
    """Stage 5: OUT/zoo/zoo.json (the table, the ranking, the score's evaluation)."""
    from align.api import Weights, evaluate, load_zoo, rank_metrics, transfer as transfer_to
    det = opts.detectors[0]
    t = zoo_table(zoo_dir(opts) / "benchmark", {v: dist[v] for v in names}, det, opts.bootstrap)
    table = t["sets"]
    res = {"detector": det, "target": str(opts.real_json), "images_per_set": None, "notes": notes,
           "real_map": t["real_map"], "sets": table, "ranking": rank_metrics(table), "score": evaluate(table),
           "options": {"epochs": opts.epochs, "seeds": list(opts.seeds), "init": opts.init, "total": opts.total}}
    if transfer is not None:
        other = load_zoo(transfer)
        res["transfer"] = {"from": str(transfer), **transfer_to(Weights.from_dict(other["score"]["weights"]), table)}
    atomic_write_json(zoo_dir(opts) / ZOO_JSON, res)
    return res


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="synthgap zoo", description="A variant zoo: the run's sets and more, equal "
                                 "image counts, distances and trained mAP per set; which distances rank the sets "
                                 "like mAP; a training-free quality score. Rerun the same command to resume.")
    add_real_args(ap)
    for flag, h in (("--split", "split.json with exposed / test image ids"), ("--grid", "grid YAML"),
                    ("--out", "run folder (the zoo goes to OUT/zoo)")):
        ap.add_argument(flag, required=True, help=h)
    ap.add_argument("--category", default=None, help="class to align and benchmark (default: the grid's "
                    "class when its `classes` names one the real COCO labels, else all)")
    ap.add_argument("--singles", type=int, default=4, help="single grid configs in the zoo (default: %(default)s)")
    ap.add_argument("--zoo-images", type=int, default=None, help="images per zoo set (default: --total)")
    ap.add_argument("--transfer", default=None, help="another target's zoo (folder or zoo.json): score each zoo "
                    "with the other's weights")
    add_common_args(ap, ZOO_DEFAULTS)
    return ap


ZOO_DEFAULTS = RunOptions(Path(), Path(), Path(), Path(), Path(), total=120, detectors=["frcnn"], epochs=15,
                          seeds=[0, 1, 2])


def zoo_main(argv: list[str]) -> int:
    from dataclasses import replace

    from synthgap.zoo_report import write_zoo_report
    args = parse_with_config(_parser(), argv)
    from core.api import resolve_args
    resolve_args(args)
    base = replace(ZOO_DEFAULTS, real_json=Path(args.real), images=Path(args.images), split=Path(args.split),
                   grid=Path(args.grid), out=Path(args.out), category=args.category, seeds=list(ZOO_DEFAULTS.seeds),
                   detectors=list(ZOO_DEFAULTS.detectors))
    opts = apply_args(base, args)
    n = args.zoo_images if args.zoo_images is not None else opts.total
    if n < 1 or args.singles < 0:
        raise UserError("--zoo-images must be >= 1 and --singles >= 0")
    if args.transfer:
        from align.api import load_zoo
        load_zoo(args.transfer)
    res = build_zoo(opts, n, args.singles, args.transfer)
    report = write_zoo_report(opts, res)
    log(f"zoo report: {report}")
    return 0


def build_zoo(opts: RunOptions, n: int, k: int, transfer: str | None) -> dict:
    from dataclasses import replace

    from synthgap.loop import run
    from synthgap.inputs import load_inputs, make_renderer
    t0 = time.time()
    run(replace(opts, benchmark=False))
    _, configs, _ = load_inputs(opts)
    from align.api import Fit, MetadataTable
    real_t, fit = MetadataTable.load(opts.real_table), Fit.load(opts.out / "fit.json")
    names, notes = build_sets(opts, configs, real_t, fit, n, k, make_renderer(opts))
    dist = stage_distances(opts, real_t, names)
    stage_benchmark(opts, fit, names)
    res = analyse(opts, names, notes, dist, Path(transfer) if transfer else None)
    calls_path = zoo_dir(opts) / "calls.json"
    calls = read_json(calls_path, "zoo calls") if calls_path.exists() else []
    calls.append(round(time.time() - t0))
    atomic_write_json(calls_path, calls)
    res["images_per_set"], res["wall_s"], res["calls"] = n, sum(calls), len(calls)
    res["aligned_metadata"] = list(fit.metadata)        # the one "mean D_B" of every report
    atomic_write_json(zoo_dir(opts) / ZOO_JSON, res)
    log(f"zoo: {len(res['sets'])} sets, {res['wall_s']} s over {len(calls)} call(s); held-out score vs mAP: "
        + json.dumps(res["score"]["held_out"]))
    return res
