"""The closed loop (`synthgap run`), stage by stage.

    1. metadata of the real *exposed* images                               RUN/real_metadata.json
    2. a small probe render per grid config                                RUN/probes/<config>/
       with --predict: render-only metadata (depth, ...) learnt from the probes' box crops and predicted for the
       real boxes (align/predict_metadata.py)                              RUN/predict.json,
                                                                           RUN/real_metadata_pred.json
    3. the GMM/silhouette fit of the real table (measured, or with the predicted columns)   RUN/fit.json
       each selector (align.selectors) -> its render plan                  RUN/<selector's plan_file>
    4. the sets, all with the same budget: one aligned set per selector and the comparison sets of
       synthgap.variants (baseline, filtered, on-surface, ... )            RUN/sets/<set>/
       (the aligned sets' render wall times, for the rounds' cost line)    RUN/render_s.json
    5. distances of every set to the real exposed split; the recommended set, chosen on the exposed photos
       only (synthgap/recommend.py; also linked as RUN/sets/aligned); the benchmark; the report (its verdict first)
                                                                           RUN/distances.json, RUN/recommended.json,
                                                                           RUN/benchmark/, RUN/report.md, .html
Every stage writes its outputs atomically (dataset dirs get DONE last) and is skipped on rerun when complete,
so a killed run resumes where it stopped. RUN/run.json pins the inputs; a rerun with other inputs is refused.
The run's inputs (loading, checking, the run.json pins, the renderer) are synthgap/inputs.py's. It imports
render, align and benchmark only through their facades (docs/design.md §8). synthgap/loop.py runs the stages in
order (`synthgap run`).
"""
from __future__ import annotations

import math
from pathlib import Path

from core.api import UserError, atomic_write_json, log, read_json, timed

from synthgap.classes import ClassFits, class_distances, db_record
from synthgap.options import RunOptions
from synthgap.seeds import render_seed
from synthgap.variants import VariantContext, build_comparison_sets, link_set, selector_sets, set_names


def _stage(name: str, done: bool) -> bool:
    """Log a stage start (or its skip); True when it must run."""
    log(f"stage {name}: {'complete, skipped' if done else 'running'}")
    return not done


def stage_real(opts: RunOptions):
    """1. the metadata table of the real exposed images (the target's sidecar columns where it has one)."""
    from align.api import MetadataTable, compute_metadata
    from core.api import load_split
    real_meta = opts.out / "real_metadata.json"
    if _stage("1/5 real metadata", real_meta.exists()):
        sidecar = Path(opts.real_json).parent / "sidecar.json"
        compute_metadata(opts.real_json, opts.images, category=opts.category,
                         image_ids=list(load_split(opts.split).exposed), sidecar=sidecar if sidecar.exists() else None,
                         dataset="real-exposed", progress=True).save(real_meta)
    real_t = MetadataTable.load(real_meta)
    log(f"real exposed: {real_t.n('image')} images, {real_t.n('bbox')} boxes")
    return real_t


def stage_predict(opts: RunOptions, configs: list, real_t):
    """2b. --predict: models from every probe's box crops to its sidecar metadata, applied to the real boxes."""
    if not opts.predict:
        return real_t
    from align.api import MetadataTable, learn_from_dirs, predict_real
    from core.api import load_coco, load_split
    path, rec_path = opts.real_table, opts.out / "predict.json"
    if _stage(f"2/5 predicted metadata ({', '.join(opts.predict)}) from the probes' box crops",
              path.exists() and rec_path.exists()):
        models = learn_from_dirs([opts.out / "probes" / c.name for c in configs], list(opts.predict),
                                 category=opts.category)
        real_cs = load_coco(opts.real_json, opts.images, category=opts.category)
        table, done, check = predict_real(real_cs, list(load_split(opts.split, real_cs).exposed), real_t, models)
        atomic_write_json(rec_path, {"trained_on": "probes", "predicted": done, "against_measured": check,
                                     "models": {m: mm.record() for m, mm in models.items()}})
        table.save(path)
    rec = read_json(rec_path, "predictions")
    log("predicted for the real boxes: " + (", ".join(rec["predicted"]) or "nothing") + " (" + ", ".join(
        f"{m} R² {v['r2']:.2f}" for m, v in rec["models"].items() if math.isfinite(v["r2"])) + ")")
    return MetadataTable.load(path)


def stage_fit(opts: RunOptions, real_t):
    """3a. the GMM fit of the real table: --metadata, else area_frac, cy (+ depth where the table has it, + the
    columns --predict filled)."""
    from align.api import Fit, default_metadata, fit_gmm
    fit_path = opts.out / "fit.json"
    if _stage("3/5 GMM fit", fit_path.exists()):
        metadata = list(opts.metadata) if opts.metadata else default_metadata(real_t)
        for m in [] if opts.metadata else opts.predict or []:
            if real_t.has(m) and m not in metadata:
                metadata.append(m)
        missing = [m for m in metadata if not real_t.has(m, "bbox")]
        if missing:                          # only predicted columns can be missing here (stage_real)
            raise UserError(f"--metadata: the real exposed boxes have no {', '.join(missing)} values (--predict "
                            "did not find them predictable: RUN/predict.json)")
        fit_gmm(real_t, metadata=metadata, mode=opts.mode, kmax=opts.kmax, seed=opts.seed).to_json(fit_path)
    fit = Fit.load(fit_path)
    log(f"fit on {', '.join(fit.metadata)}: {fit.k} joint component(s)")
    return fit


def stage_probes(opts: RunOptions, configs: list, render) -> None:
    """2. one probe render per grid config."""
    probes_dir = opts.out / "probes"
    pending = [c for c in configs if not (probes_dir / c.name / "DONE").exists()]
    if _stage(f"2/5 probe renders ({len(configs)} configs x {opts.probe_n} images)", not pending):
        for i, cfg in enumerate(configs):
            if cfg in pending:
                log(f"probe {i + 1}/{len(configs)}: {cfg.name}")
                render(cfg, opts.probe_n, probes_dir / cfg.name, render_seed(opts.seed, "probe", i))


def stage_select(opts: RunOptions, fit, real_t, configs: list, render) -> dict[str, Path]:
    """3. each selector's plan, the chosen configs' probes grown while a plan's prediction is too uncertain
    (align/select.py, "Probe adequacy"). -> {selector: plan path}."""
    plans = {m: opts.out / f for m, (_, f) in selector_sets(opts).items()}
    if _stage(f"3/5 selection -> {', '.join(p.name for p in plans.values())}",
              all(p.exists() for p in plans.values())):
        todo = [m for m, p in plans.items() if not p.exists()]
        for method, plan in _adequate_plans(opts, fit, real_t, configs, todo, render).items():
            plan.to_yaml(plans[method])
            log(f"selector {method}: " + ", ".join(f"{e.config_name} x{e.count}" for e in plan.entries))
    return plans


def _adequate_plans(opts: RunOptions, fit, real_t, configs: list, methods: list[str], render) -> dict:
    """Select; while a plan's predicted-D_B interval is wider than --probe-ci, render --probe-n more images of
    each chosen config under --probe-max (round k into probes/.more/<config>/r<k>) and select again. Each
    round selects from the probes of the rounds before it only, so a resumed run replays the same rounds."""
    from align.api import MORE_DIR, load_probes
    index = {c.name: i for i, c in enumerate(configs)}
    by_name = {c.name: c for c in configs}
    rnd = 0
    while True:
        probes = load_probes(opts.out / "probes", category=opts.category, more=rnd)
        plans = {m: opts.selector(m, real_t).select(fit, probes, opts.total) for m in methods}
        wide = {m: p.wide(opts.probe_ci) for m, p in plans.items() if p.wide(opts.probe_ci)}
        grow = sorted({e.config_name for m in wide for e in plans[m].entries
                       if e.config_name in by_name and plans[m].probe_images[e.config_name] < opts.probe_cap})
        if not wide or not grow:
            break
        rnd += 1
        log(f"probe round {rnd}: predicted D_B interval wider than {opts.probe_ci} (" + "; ".join(
            f"{m}: " + ", ".join(f"{k} {w:.3f}" for k, w in ws.items()) for m, ws in wide.items()) +
            f"): {opts.probe_n} more images of {', '.join(grow)}")
        for name in grow:
            render(by_name[name], opts.probe_n, opts.out / "probes" / MORE_DIR / name / f"r{rnd}",
                   render_seed(opts.seed, "probe", index[name], rnd))
    for m, ws in wide.items():
        note = (f"predicted D_B interval still wider than --probe-ci {opts.probe_ci} after {rnd} probe round(s) "
                "(" + ", ".join(f"{k} {w:.3f}" for k, w in ws.items()) + f"; probes at --probe-max {opts.probe_cap} "
                "images or not from the grid): treat the prediction as rough, or raise --probe-max")
        log(f"selector {m}: {note}")
        plans[m].notes.append(note)
    return plans


def plan_key(plan_path: Path) -> str:
    """What a plan renders (its total and each entry's config and count; not the selector's notes)."""
    import json
    from align.api import Plan
    plan = Plan.load(plan_path)
    return json.dumps([plan.total, [(e.config, e.count) for e in plan.entries]], sort_keys=True)


def stage_sets(opts: RunOptions, grid_mapping: dict, plans: dict[str, Path], render, aligned=None) -> None:
    """4. the aligned set of each selector and the comparison sets; `aligned()` -> the recommended selector's
    (set, plan file), for the sets built from the aligned plan (default: the first selector's)."""
    sets = opts.out / "sets"
    names = set_names(opts)
    _unfinish_damaged(sets, names)
    if _stage(f"4/5 render the sets ({opts.total} images each): {', '.join(names)}",
              all((sets / v / "DONE").exists() for v in names)):
        rendered: dict[str, str] = {}                  # plan content -> the set rendered from it
        for method, (variant, _) in selector_sets(opts).items():
            key = plan_key(plans[method])
            if key in rendered:
                if not (sets / variant / "DONE").exists():
                    log(f"{variant}: plan {plans[method].name} (selector {method}) equals {rendered[key]}'s: "
                        "linked, not rendered again")
                    link_set(sets / rendered[key], sets / variant)
            else:
                log(f"{variant}: rendering {plans[method].name} (selector {method})")
                from synthgap.rounds import RENDER_S
                with timed(opts.out / RENDER_S, variant):
                    render(plans[method], None, sets / variant, render_seed(opts.seed, "aligned"))
            rendered.setdefault(key, variant)
        build_comparison_sets(VariantContext(opts, grid_mapping, sets, render, aligned), log)


def _unfinish_damaged(sets: Path, names: list[str]) -> None:
    """A finished set whose image went missing or was damaged loses its DONE, so stage 4 builds it again (a
    render repairs only the damaged shards, to the same bytes); its distances and benchmark cells were computed
    from the sound set and stay valid."""
    from core.api import damaged_image
    for v in names:
        if (sets / v / "DONE").exists():
            bad = damaged_image(sets / v)
            if bad:
                log(f"sets/{v}: {bad} is missing or damaged; building the set again")
                (sets / v / "DONE").unlink()


def stage_distances(opts: RunOptions, real_t, fit, names: list[str] | None = None) -> dict:
    """5a. D_B and W1 of every set (or of `names`) to the real exposed split (metadata from the one cache)."""
    from align.api import metadata_for_dir
    path = opts.out / "distances.json"
    dist = read_json(path, "distances") if path.exists() else {}
    label = "5/5 distances" if names is None else f"distances of {', '.join(names)} (for the recommended set)"
    names = set_names(opts) if names is None else names
    if _stage(label, all(v in dist for v in names)):
        realism = realism_against_exposed(opts)
        for v in [v for v in names if v not in dist]:
            t = metadata_for_dir(opts.out / "sets" / v, category=opts.category, dataset=v)
            dist[v] = {**db_record(real_t, t, list(fit.metadata)), "images": t.n("image"), "boxes": t.n("bbox"),
                       "realism": realism(v)}
            if isinstance(fit, ClassFits):              # several classes: each against its own boxes
                dist[v].update(class_distances(opts.out / "sets" / v, fit, v))
        atomic_write_json(path, dist)
    return dist


def stage_recommend(opts: RunOptions, real_t, fit) -> dict:
    """5b. the recommended set, chosen on the exposed photos only (synthgap/recommend.py): RUN/recommended.json
    and RUN/sets/aligned, hard links to the recommended selector's set (none when the baseline is recommended)."""
    import shutil

    from synthgap.recommend import ALIAS, choose
    names = [v for v in [*(v for v, _ in selector_sets(opts).values()), "baseline"] if v in set_names(opts)]
    dpath = opts.out / "distances.json"
    dist = read_json(dpath, "distances") if dpath.exists() else {}
    if not all(v in dist for v in names):
        dist = stage_distances(opts, real_t, fit, names)
    path, alias = opts.out / "recommended.json", opts.out / "sets" / ALIAS
    old = read_json(path, "recommendation") if path.exists() else {}
    rec = choose(opts, real_t, list(fit.metadata), dist, getattr(fit, "tables", None))
    atomic_write_json(path, rec)                       # before the link: a folder with sets/aligned has it
    if rec["alias"] and (old.get("recommended") != rec["recommended"] or not (alias / "DONE").exists()):
        link_set(opts.out / "sets" / rec["recommended"], alias)
    elif not rec["alias"] and alias.exists():
        shutil.rmtree(alias)
    was = f" (was {old['recommended']})" if old and old.get("recommended") != rec["recommended"] else ""
    log(f"recommended set: {rec['recommended']}{was}" + (f", linked as sets/{ALIAS}" if rec["alias"] else "") +
        f": {rec['reason']}")
    return rec


def recommended_chooser(opts: RunOptions, real_t, fit):
    """-> aligned(): the recommended selector's (set, plan file), chosen once when a set first needs it (the
    first selector's when the baseline is recommended)."""
    memo: dict = {}

    def aligned() -> tuple[str, str]:
        if "rec" not in memo:
            memo["rec"] = stage_recommend(opts, real_t, fit)
        sel = memo["rec"]["selector"] or next(iter(selector_sets(opts)))
        return selector_sets(opts)[sel]
    return aligned


def realism_against_exposed(opts: RunOptions, sets: Path | None = None):
    """-> realism(set name): KID (+ standard error) and FID of a set's images (in `sets`, default RUN/sets) to
    the real exposed images (align/realism.py; the real set is read once); None, with a log line, where the
    feature extractor's weights are not installed."""
    from align.api import realism
    from core.api import load_coco, load_split
    real = load_coco(opts.real_json, opts.images)
    exposed = load_split(opts.split, real).exposed

    def of(v: str) -> dict | None:
        try:
            r = realism(real, exposed, load_coco((sets or opts.out / "sets") / v), B=100)
        except UserError as e:
            log(f"realism of {v}: not computed ({e})")
            return None
        return r
    return of


def stage_benchmark(opts: RunOptions, dist: dict, fit, rec: dict | None = None) -> None:
    """5c. detectors trained on every set (and the real exposed images), scored on the real test images;
    --bench-variants may name `aligned` (the recommended set)."""
    from benchmark.api import run_matrix, write_report
    names = set_names(opts)
    empty = [v for v in names if not dist[v]["images"]]
    want = None if opts.bench_variants is None else [
        (rec or {}).get("recommended") if v == "aligned" else v for v in opts.bench_variants]
    skip = [v for v in names if want is not None and v not in want]
    if skip:
        log(f"benchmark: {', '.join(skip)} left out (--bench-variants)")
    if empty:
        log(f"benchmark: {', '.join(empty)} holds no image of the category, not trained")
    log("benchmark: training on every set (finished cells are skipped)")
    run_matrix(opts.bench_spec([(v, str(opts.out / "sets" / v)) for v in names if v not in empty + skip],
                               opts.out / "benchmark", fit.metadata))
    if rec is not None:                                 # the benchmark report's verdict names the same set
        atomic_write_json(opts.out / "benchmark" / "recommended.json", rec)
    write_report(opts.out / "benchmark", B=opts.bootstrap)


def stage_rounds(opts: RunOptions, real_t, fit, rec: dict, render) -> list[dict]:
    """6. --rounds: top-down rounds from the recommended set's detector (synthgap/rounds.py)."""
    from synthgap.rounds import run_rounds
    log(f"stage 6 top-down rounds (up to {opts.rounds}, {opts.increment_n} images each)")
    return run_rounds(opts, real_t, fit, rec, render, lambda names: stage_distances(opts, real_t, fit, names))
