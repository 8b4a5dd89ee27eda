"""Several classes in one run: `synthgap run --category a,b` (or `--category all`).

Each class is aligned on its own boxes, then the class plans are merged into the run's plans:

    RUN/classes/<c>/real_metadata.json   the exposed photos' boxes of class c (stage 1 of the loop, for c)
    RUN/classes/<c>/probes/<config>/     the grid's configs with `classes: [c]` and the run's other classes in
                                         `distractor_exclude` (a run class never stands in an image unlabelled)
    RUN/classes/<c>/fit.json, plan-*.yaml   class c's fit, and each selector's plan for c's share of --total
    RUN/fit.json                         the run's fit record: the union of the classes' metadata, "classes":
                                         {c: {k, k_reason, metadata, boxes, share}} (read by the report)
    RUN/plan-*.yaml                      the merged plan: every class's entries; its predicted D_B and interval
                                         ends are the classes' means, weighted equally
    RUN/distances.json                   per set: each metadata's D_B the classes' mean (equal weights, as COCO
                                         averages AP over classes), mean_db the mean of the classes' mean D_B,
                                         "classes": {c: the set's record against class c's exposed boxes},
                                         "missing_classes": the fitted classes the set holds no box of (then
                                         mean_db is None: such a set is never recommended)

Shares: --total is split over the classes in the proportion of their exposed boxes (largest remainder, at
least one image each), so the aligned set holds the classes as the photos do. A class with fewer than
MIN_CLASS_BOXES exposed boxes is not fitted: its share renders its grid configs evenly, and the plan says so.
The comparison sets (baseline, ...) render the grid with `classes` set to the run's classes. The benchmark
trains every detector on all the run's classes and scores mAP per class (benchmark/cells.py).
Top-down rounds (--rounds) are per class work not built yet: refused with several classes (loop.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from align.api import finite_mean
from core.api import UserError, log

MIN_CLASS_BOXES = 5          # fewer exposed boxes of a class: no fit, its share spread over its grid configs


@dataclasses.dataclass
class ClassFits:
    """The several-class run's fit: the classes' fits and real tables; `metadata` the union, in order."""
    fits: dict                           # class -> align Fit (None when the class had too few boxes)
    tables: dict                         # class -> its real exposed MetadataTable
    metadata: list[str]
    k = None                             # the joint K is per class (stages log it per class)


def run_classes(opts) -> list[str] | None:
    """The run's classes when `--category` names several (or `all`), else None (one class, or all pooled)."""
    if opts.category is None or "," not in str(opts.category):
        return None
    return str(opts.category).split(",")


def check_classes(opts, classes: list[str]) -> None:
    """What a several-class run refuses: --rounds (per class work not built), --total below one image a class."""
    if opts.rounds:
        raise UserError(f"--rounds: top-down rounds are for one class; --category {opts.category} names "
                        f"{len(classes)}: run the rounds per class (--category {classes[0]})")
    if opts.total < len(classes):
        raise UserError(f"--total {opts.total}: fewer images than the run's {len(classes)} classes")


def resolve_run_classes(opts, real) -> None:
    """--category a,b / all: opts.category becomes the classes' names, comma-joined in id order (what every
    COCO filter of the run reads); one name stays as given."""
    if opts.category is None:
        return
    names = real.class_names(opts.category)
    if len(names) > 1 or str(opts.category) == "all" or "," in str(opts.category):
        opts.category = ",".join(names)


def class_grid(grid_mapping: dict, classes: list[str]) -> dict:
    """The grid the comparison sets render: `classes` the run's classes (logged when the grid said otherwise)."""
    if grid_mapping.get("classes") != classes:
        log(f"--category {','.join(classes)}: the comparison sets render the grid with classes {classes} "
            f"(the grid says {grid_mapping.get('classes', 'the default')!r})")
    return {**grid_mapping, "classes": list(classes)}


def class_configs(configs: list, c: str, classes: list[str]) -> list:
    """The grid's configs for class c: `classes: [c]`, the run's other classes never drawn as distractors."""
    others = tuple(x for x in classes if x != c)
    return [dataclasses.replace(cfg, classes=(c,), distractor_exclude=tuple(sorted(set(cfg.distractor_exclude)
                                                                                  | set(others))))
            for cfg in configs]


def shares(boxes: dict[str, int], total: int) -> dict[str, int]:
    """--total over the classes in proportion to their exposed boxes (largest remainder), at least 1 each."""
    from core.api import apportion
    if total < len(boxes):                 # the run refuses this before it starts (check_classes)
        raise UserError(f"--total {total}: fewer images than the run's {len(boxes)} classes")
    counts = apportion([max(n, 0) for n in boxes.values()] if sum(boxes.values()) else [1] * len(boxes), total)
    for i in [i for i, k in enumerate(counts) if k == 0]:       # a class the photos barely hold: one image,
        counts[counts.index(max(counts))] -= 1                    # taken from the largest share
        counts[i] = 1
    return dict(zip(boxes, counts))


def class_options(opts, c: str, total: int):
    """The options of class c's stages: its own folder and share; no benchmark, no rounds."""
    return dataclasses.replace(opts, category=c, out=opts.out / "classes" / c, total=total, benchmark=False,
                               rounds=0, seeds=list(opts.seeds))


def even_plan(configs: list, total: int, why: str):
    """A class too thin to fit: its share over its grid configs evenly (largest remainder)."""
    from align.api import Plan, PlanEntry
    from core.api import apportion
    counts = apportion([1] * len(configs), total)
    return Plan(total=total, entries=[PlanEntry(cfg.to_mapping(), cfg.name, k, why=why)
                                      for cfg, k in zip(configs, counts) if k], notes=[why])


def _union(lists) -> list[str]:
    return list(dict.fromkeys(m for names in lists for m in names))      # first-seen order


def merge_plans(plans: dict, total: int):
    """The run's plan from the classes' plans: all entries; predicted D_B and its interval ends the classes'
    mean per metadata (equal weights); each class's notes prefixed with its name."""
    from align.api import Plan
    mean = finite_mean
    metas = _union(p.metadata for p in plans.values())
    pred = {m: mean([p.predicted_db.get(m) for p in plans.values()]) for m in metas}
    ci = {}
    for m in metas:
        ends = [p.predicted_ci[m] for p in plans.values() if m in p.predicted_ci]
        if len(ends) == len(plans):
            ci[m] = [mean([e[0] for e in ends]), mean([e[1] for e in ends])]
    return Plan(total=total, entries=[e for p in plans.values() for e in p.entries], predicted_db=pred,
                predicted_ci=ci, metadata=metas,
                probe_images={k: v for p in plans.values() for k, v in p.probe_images.items()},
                notes=[f"{c}: {n}" for c, p in plans.items() for n in p.notes] + [
                    "classes: " + ", ".join(f"{c} {p.total} images" for c, p in plans.items())])


def fit_metadata(fits: dict, tables: dict) -> list[str]:
    """The run's metadata: the union of the classes' fitted metadata (a class not fitted: its table's default)."""
    from align.api import default_metadata
    return _union(f.metadata if f else default_metadata(tables[c]) for c, f in fits.items())


def class_fit_record(fit: ClassFits, share: dict, mode: str) -> dict:
    """RUN/fit.json of a several-class run (synthgap/classes.py)."""
    per = {c: {"k": f.k if f else None, "k_reason": f.k_reason if f else "too few boxes: not fitted",
               "metadata": list(f.metadata) if f else [], "boxes": fit.tables[c].n("bbox"), "share": share[c]}
           for c, f in fit.fits.items()}
    return {"metadata": fit.metadata, "mode": mode, "k": "per class",
            "k_reason": "; ".join(f"{c} K={r['k']} on {r['boxes']} boxes" for c, r in per.items()), "classes": per}


def db_record(real_t, t, metas: list[str]) -> dict:
    """One set's table against the real exposed table: {"db", "w1": {metadata: value}, "mean_db"} (the mean
    over the metadata with a finite D_B, the one definition of the reports)."""
    from align.api import compare_tables
    res = compare_tables(real_t, t, metadata=metas, level="bbox")
    dbs = {m: (None if r.db is None else float(r.db)) for m, r in res.items()}
    return {"db": dbs, "w1": {m: (None if r.w1 is None else float(r.w1)) for m, r in res.items()},
            "mean_db": finite_mean(dbs.values())}


def class_distances(set_dir: Path, fit: ClassFits, name: str) -> dict:
    """A set's D_B per class (its boxes of c against the exposed boxes of c, on c's metadata) and their mean
    over the classes (module docstring): {"db", "w1", "mean_db", "classes": {c: record + boxes}}."""
    from align.api import metadata_for_dir
    per = {}
    for c, real_c in fit.tables.items():
        t = metadata_for_dir(set_dir, category=c, dataset=name)
        metas = [m for m in fit.metadata if real_c.has(m, "bbox")]
        per[c] = {**db_record(real_c, t, metas), "boxes": t.n("bbox")} if t.n("bbox") else {
            "db": {}, "w1": {}, "mean_db": None, "boxes": 0}
    missing = [c for c, r in per.items() if not r["boxes"] and fit.tables[c].n("bbox") >= MIN_CLASS_BOXES]
    return {"db": {m: finite_mean(r["db"].get(m) for r in per.values()) for m in fit.metadata},
            "w1": {m: finite_mean(r["w1"].get(m) for r in per.values()) for m in fit.metadata},
            "mean_db": None if missing else finite_mean(r["mean_db"] for r in per.values()), "classes": per,
            "missing_classes": missing}
