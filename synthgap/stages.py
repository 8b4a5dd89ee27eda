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
    5. distances of every set to the real exposed split; the recommended set, chosen on the exposed photos
       only (synthgap/recommend.py; also linked as RUN/sets/aligned); the benchmark; the report (its verdict first)
                                                                           RUN/distances.json, RUN/recommended.json,
                                                                           RUN/benchmark/, RUN/report.md, .html
Every stage writes its outputs atomically (dataset dirs get DONE last) and is skipped on rerun when complete,
so a killed run resumes where it stopped. RUN/run.json pins the inputs; a rerun with other inputs is refused.
It imports render, align and benchmark through their facades (render.api, align.api) where those export
what it needs, else from the module that defines it (render.grid, align.metadata, align.gmm, align.select,
benchmark.run, ...); docs/design.md §8. synthgap/loop.py runs them in order (`synthgap run`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from core.api import UserError, atomic_write_json, load_yaml, log, read_json

from synthgap.classes import ClassFits, class_distances, db_record, resolve_run_classes
from synthgap.options import RunOptions
from synthgap.seeds import render_seed
from synthgap.variants import VariantContext, build_comparison_sets, link_set, selector_sets, set_names


def _stage(name: str, done: bool) -> bool:
    """Log a stage start (or its skip); True when it must run."""
    log(f"stage {name}: {'complete, skipped' if done else 'running'}")
    return not done


def _run_key(opts: RunOptions, grid_mapping: dict[str, Any], exposed_files: list[Path]) -> dict:
    """What the stages' outputs depend on, the real inputs pinned by content (the COCO's and the split's bytes,
    the exposed images' names and bytes), not by path: the same photos copied elsewhere, or with new mtimes,
    still resume."""
    from core.api import content_fingerprint, file_sha
    return {"real_content": file_sha(opts.real_json), "split_content": file_sha(opts.split),
            "exposed_content": content_fingerprint(exposed_files, Path(opts.images)),
            "category": opts.category, "grid": grid_mapping, "total": opts.total, "probe_n": opts.probe_n,
            "probe_ci": opts.probe_ci, "probe_max": opts.probe_cap,
            "metadata": opts.metadata, "predict": opts.predict, "mode": opts.mode, "kmax": opts.kmax, "min_px": opts.min_px,
            "seed": opts.seed}


# keys added to run.json after runs were made: a folder started before them resumes when the option has its
# default value (the outputs then do not depend on it)
LATER_KEYS = {"probe_ci": lambda o: RunOptions.probe_ci, "probe_max": lambda o: 4 * o.probe_n,
              "predict": lambda o: None}

CHANGED = {"real_content": "the real COCO json was edited since", "split_content": "the split was edited since",
           "exposed_content": "exposed image files were replaced, added or removed since"}


def check_run_json(opts: RunOptions, grid_mapping: dict[str, Any], exposed_files: list[Path]) -> None:
    """RUN/run.json pins what the stages' outputs depend on, so a rerun resumes the same run and a rerun with
    other inputs is refused instead of mixing two runs in one folder."""
    key, path = _run_key(opts, grid_mapping, exposed_files), opts.out / "run.json"
    if path.exists():
        old = read_json(path, "run record").get("key", {})
        diff = sorted(k for k in key if k in old and old[k] != key[k] or k not in old and not (
            k in CHANGED or k in LATER_KEYS and key[k] == LATER_KEYS[k](opts)))
        why = "; ".join(CHANGED.get(k, f"other {k}") for k in diff)
        if diff and not (opts.accept_changed and set(diff) <= set(CHANGED)):
            hint = (" (or add --accept-changed-inputs to take the fixed files as the new inputs)"
                    if set(diff) <= set(CHANGED) else "")
            raise UserError(f"{path}: this run folder was started with other inputs ({why}); rerun with the "
                            f"original inputs and options to resume{hint}, or choose a new --out to start over")
        if not diff:
            return
        from core.api import supersede
        log(f"--accept-changed-inputs: {why}; " + supersede(opts.out, FROM_REAL))
    atomic_write_json(path, {"key": key, "started": time.strftime("%Y-%m-%d %H:%M:%S")})


# what a run computed from the real inputs (everything but the probe renders, which depend on the grid only)
FROM_REAL = ("real_metadata.json", "real_metadata_pred.json", "predict.json", "fit.json", "plan*.yaml", "sets",
             "distances.json", "benchmark", "shapes.json", "recommended.json", "report.md", "report.html",
             "report_files")


def make_renderer(opts: RunOptions):
    def render(what: Any, n: int | None, out: Path, seed: int) -> Path:
        from render.api import render_dataset
        kw = {"ray_address": opts.ray_address} if opts.backend == "ray" and opts.ray_address else {}
        return render_dataset(what, n, out, workers=opts.workers, seed=seed, backend=opts.backend,
                              device=opts.render_device, **kw)
    return render


def grid_category(grid_mapping: dict, opts: RunOptions) -> str | None:
    """--category not given: the class the grid names (`classes: [x]`) when it names one class the real COCO
    labels (a run aligns the photos' boxes of the class its renders show, not every labelled class); None (all)
    otherwise."""
    from core.api import load_coco
    classes = grid_mapping.get("classes")
    if not isinstance(classes, list) or len(classes) != 1:
        return None
    names = set(load_coco(opts.real_json, opts.images, check_files=False).categories.values())
    if str(classes[0]) not in names:
        return None
    log(f"--category not given: aligning and benchmarking {classes[0]!r}, the one class {opts.grid} renders")
    return str(classes[0])


def load_inputs(opts: RunOptions) -> tuple[dict, list, list[Path]]:
    """Every input checked before anything is written: the out folder, the grid, the real COCO, images, split,
    category, metadata names. -> (grid mapping, configs, the exposed image files)."""
    from core.api import check_decodes, check_not_input, check_out_dir, load_coco, load_split
    from render.api import expand_grid
    check_out_dir(opts.out)
    check_not_input(opts.out, [(f, Path(p)) for f, p in (("--real", opts.real_json), ("--images", opts.images),
                               ("--split", opts.split), ("--grid", opts.grid), ("--zoo", opts.zoo)) if p])
    grid_mapping = load_yaml(opts.grid, "grid YAML")
    if not isinstance(grid_mapping, dict):
        raise UserError(f"{opts.grid}: key '<top>': a grid must be a mapping")
    configs = expand_grid(opts.grid)
    if not Path(opts.real_json).is_file():
        raise UserError(f"{opts.real_json}: --real COCO json not found")
    if not Path(opts.images).is_dir():
        raise UserError(f"{opts.images}: --images folder not found")
    if opts.category is None:
        opts.category = grid_category(grid_mapping, opts)
    real = load_coco(opts.real_json, opts.images, category=opts.category)
    resolve_run_classes(opts, real)    # `all` / a,b -> the class names (real keeps every category's name)
    split = load_split(opts.split, real)
    check_decodes(real)                # a truncated photo is refused here, not after an hour of renders
    if not any(a["image_id"] in set(split.exposed) for a in real.annotations):
        raise UserError(f"{opts.split}: key 'exposed': no annotation of {opts.category or 'any category'} on "
                        f"the exposed images of {opts.real_json}")
    from align.api import SIDECAR_COLUMNS, check_names
    check_names(opts.metadata or [])
    lacking = [m for m in opts.metadata or [] if m in SIDECAR_COLUMNS and m not in (opts.predict or [])]
    if lacking and not (Path(opts.real_json).parent / "sidecar.json").exists():
        raise UserError(f"--metadata: {', '.join(lacking)} is known only to the renderer and {opts.real_json} has "
                        "no sidecar.json: predict it from the photos with --predict")
    exposed = set(split.exposed)
    return grid_mapping, configs, [real.image_path(im) for im in real.images if im["id"] in exposed]


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
    from align.api import MORE_DIR, SELECTORS, load_probes
    index = {c.name: i for i, c in enumerate(configs)}
    by_name = {c.name: c for c in configs}
    rnd = 0
    while True:
        probes = load_probes(opts.out / "probes", category=opts.category, more=rnd)
        plans = {m: SELECTORS.get(m)(seed=opts.seed, real=real_t).select(fit, probes, opts.total) for m in methods}
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
    plan = load_yaml(plan_path, "plan")
    return json.dumps([plan.get("total"), [(e["config"], e["count"]) for e in plan["entries"]]], sort_keys=True)


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
