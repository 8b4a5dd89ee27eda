"""`synthgap run`: the loop's stages (synthgap/stages.py) in order, and, with several classes (`--category a,b`
or `all`), each class's stages 1-3 in RUN/classes/<c>/ with the class plans merged (synthgap/classes.py).
`run` is the library entry point (synthgap.api), `run_main` the command (its options: synthgap/options.py)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.api import atomic_write_json, log

from synthgap.classes import (MIN_CLASS_BOXES, ClassFits, check_classes, class_configs, class_fit_record, class_grid, class_options,
                              even_plan, fit_metadata, merge_plans, run_classes, shares)
from synthgap.options import RunOptions
from synthgap.recommend import migrate_old_layout
from synthgap.inputs import check_run_json, load_inputs, make_renderer
from synthgap.stages import (recommended_chooser, stage_benchmark, stage_distances, stage_fit, stage_predict,
                             stage_probes, stage_real, stage_recommend, stage_rounds, stage_select, stage_sets)
from synthgap.variants import selector_sets


def stage_class_plans(opts: RunOptions, configs: list, classes: list[str], render) -> tuple[ClassFits, dict]:
    """1-3 per class (RUN/classes/<c>/), then each selector's merged plan RUN/<plan file> and RUN/fit.json."""
    from align.api import Plan
    tables = {c: stage_real(class_options(opts, c, 0)) for c in classes}
    share = shares({c: t.n("bbox") for c, t in tables.items()}, opts.total)
    log("classes' shares of --total (by their exposed boxes): " + ", ".join(f"{c} {n}" for c, n in share.items()))
    fits, plans = {}, {}
    for c in classes:
        oc, cfgs = class_options(opts, c, share[c]), class_configs(configs, c, classes)
        if tables[c].n("bbox") < MIN_CLASS_BOXES:
            why = (f"{tables[c].n('bbox')} exposed box(es) of {c}, fewer than {MIN_CLASS_BOXES}: not fitted; its "
                   f"{share[c]} images spread evenly over its {len(cfgs)} grid configs")
            log(f"class {c}: {why}")
            fits[c], plans[c] = None, {m: even_plan(cfgs, share[c], why) for m in selector_sets(opts)}
            continue
        log(f"class {c}: stages 1-3 in {oc.out}")
        stage_probes(oc, cfgs, render)
        tables[c] = stage_predict(oc, cfgs, tables[c])
        fits[c] = stage_fit(oc, tables[c])
        plans[c] = {m: Plan.load(p) for m, p in stage_select(oc, fits[c], tables[c], cfgs, render).items()}
    out = {}
    for m, (_, plan_file) in selector_sets(opts).items():
        out[m] = merge_plans({c: plans[c][m] for c in classes}, opts.total).to_yaml(opts.out / plan_file)
    fit = ClassFits(fits, tables, fit_metadata(fits, tables))
    atomic_write_json(opts.out / "fit.json", class_fit_record(fit, share, opts.mode))
    return fit, out


def run(opts: RunOptions, context: dict[str, Any] | None = None) -> Path:
    """All stages of `synthgap run`; returns RUN/report.md. `context` adds demo facts to the report."""
    from synthgap.report import write_run_report
    t0 = time.time()
    grid_mapping, configs, exposed_files = load_inputs(opts)   # every input checked before run.json is written
    classes = run_classes(opts)
    if classes:
        check_classes(opts, classes)       # before run.json: a refused option never pins the folder
    check_run_json(opts, grid_mapping, exposed_files)
    migrate_old_layout(opts, log)
    render = make_renderer(opts)
    real_t = stage_real(opts)
    if classes:
        grid_mapping = class_grid(grid_mapping, classes)
        fit, plans = stage_class_plans(opts, configs, classes, render)
    else:
        stage_probes(opts, configs, render)
        real_t = stage_predict(opts, configs, real_t)
        fit = stage_fit(opts, real_t)
        plans = stage_select(opts, fit, real_t, configs, render)
    stage_sets(opts, grid_mapping, plans, render, recommended_chooser(opts, real_t, fit))
    dist = stage_distances(opts, real_t, fit)
    rec = stage_recommend(opts, real_t, fit)
    if opts.benchmark:
        stage_benchmark(opts, dist, fit, rec)
    if opts.rounds:
        stage_rounds(opts, real_t, fit, rec, render)
    report = write_run_report(opts, context or {})
    log(f"done in {time.time() - t0:.0f} s; report: {report} (and {report.with_suffix('.html')})")
    return report


def run_main(argv: list[str]) -> int:
    """`synthgap run ARGS`: the options (synthgap/options.py) parsed, then the loop."""
    import argparse

    from synthgap.options import add_common_args, add_real_args, apply_args, apply_zoo, parse_with_config
    ap = argparse.ArgumentParser(prog="synthgap run", description="The closed loop: fit the real exposed "
                                 "metadata, probe-render a grid, select configs, render aligned + comparison "
                                 "sets, benchmark them, report. Rerun the same command to resume.")
    add_real_args(ap)
    ap.add_argument("--split", required=True, help="split.json with exposed / test image ids")
    ap.add_argument("--category", default=None, help="class to align and benchmark, name or id; several as "
                    "a,b (or all): each class aligned to its own boxes, the detectors trained on all, mAP per "
                    "class (synthgap/classes.py). Default: the grid's class when its `classes` names one the real "
                    "COCO labels, else all classes pooled as one")
    ap.add_argument("--grid", required=True, help="grid YAML (SceneConfig with {grid: [...]} values)")
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--zoo", default=None, help="a finished `synthgap zoo` (its folder or zoo.json): the report "
                    "scores every set with its weights; --metadata auto aligns on the metadata it ranked")
    add_common_args(ap, RunOptions(Path(), Path(), Path(), Path(), Path()))
    args = parse_with_config(ap, argv)
    from core.api import resolve_args
    given = args.real
    resolve_args(args)
    opts = apply_args(RunOptions(real_json=Path(args.real), images=Path(args.images), split=Path(args.split),
                                 grid=Path(args.grid), out=Path(args.out), category=args.category), args)
    apply_zoo(opts, args.zoo)
    if str(given) != args.real:
        opts.real_source = Path(given)
    run(opts)
    return 0
