"""The run's one recommended set, chosen on the exposed photos only (never on test mAP).

Candidates are the selectors' sets (aligned-component, aligned-mix, ...), in selector order, each with its
realised mean D_B to the exposed photos (RUN/distances.json: the mean over the aligned metadata, the one
definition of every report), the plan's predicted mean D_B (its `predicted_db`, from the probes) and, with --zoo,
the zoo's training-free quality score (align/quality.py); the rule is benchmark/verdict.py's `recommend` (a set
further than the baseline is never recommended; else the lowest zoo score, or the lowest realised mean D_B).
When no selector's set is closer than the baseline, the baseline is recommended and the run has no `aligned` set.
The recommended selector's set is also RUN/sets/aligned (hard links; stages.stage_recommend): the set to take
away, never measured or trained twice (distances and the benchmark keep it under its selector's name).

RUN/recommended.json (and its copy RUN/benchmark/recommended.json, which the benchmark report's verdict reads):
{"recommended": set, "selector": name or null, "alias": "aligned" or null, "rule", "reason", "baseline":
"baseline", "mean_db": {set: realised mean D_B}, "floor": {"mean_db", "db": {metadata: D_B}, "rule"} (the
real-vs-real floor: two halves of the exposed photos, align.distances.half_split_floor), "candidates": [{"set",
"selector", "realised_mean_db", "predicted_mean_db", "predicted_ci_width", "zoo_score"}], "further": [{"set",
"selector", "mean_db"}], "warnings": [...], "zoo": path or null}.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from core.api import atomic_write_json, read_json

from benchmark.api import ALIAS, BASELINE_SET, candidate, mean_db, recommend

FLOOR_SPLITS = 20


def real_floor(real_t, metas: list[str], seed: int = 0) -> dict | None:
    """The real-vs-real floor of mean D_B: two random halves of the exposed photos (whole photos to one half)."""
    from align.api import half_split_floor
    db = half_split_floor({m: real_t.values(m, "bbox") for m in metas}, real_t.values("image_id", "bbox"),
                          splits=FLOOR_SPLITS, seed=seed)
    m = mean_db(db, metas)
    return None if m is None else {"mean_db": m, "db": db, "rule": f"two random halves of the exposed photos, by "
                                   f"photo, {FLOOR_SPLITS} draws"}


def zoo_rows(opts: Any, dist: dict, sets: list[str]) -> list[tuple[str, float | None, int | None]]:
    """--zoo: [(set, training-free quality score, predicted rank)] of `sets` with the zoo's weights, best first."""
    from align.api import compare_tables, distance_row, load_zoo, metadata_for_dir, predicted_ranks, zoo_weights
    from align.api import NUMERIC_METADATA, MetadataTable
    real = MetadataTable.load(opts.real_table)
    rows = {}
    for v in sets:
        t = metadata_for_dir(opts.out / "sets" / v, category=opts.category, dataset=v)
        metas = [m for m in NUMERIC_METADATA if real.has(m, "bbox") and t.has(m, "bbox")]
        rows[v] = distance_row(compare_tables(real, t, metadata=metas), dist[v].get("realism"))
    return predicted_ranks(zoo_weights(load_zoo(opts.zoo)), rows)


def class_floor(tables: dict, metas: list[str], seed: int = 0) -> dict | None:
    """Several classes: the floor of each class's boxes (real_floor), their mean as the distances' mean is."""
    per = {c: real_floor(t, [m for m in metas if t.has(m, "bbox")], seed) for c, t in tables.items()}
    vals = [f["mean_db"] for f in per.values() if f is not None]
    if not vals:
        return None
    return {"mean_db": sum(vals) / len(vals), "db": {}, "classes": per,
            "rule": f"per class, two random halves of its exposed photos, by photo, {FLOOR_SPLITS} draws; the "
                    "classes' mean"}


def choose(opts: Any, real_t, metas: list[str], dist: dict, class_tables: dict | None = None) -> dict:
    """The run's recommendation from its plans, distances (selector sets and baseline) and --zoo; with several
    classes (`class_tables`: class -> its exposed table) the floor is the classes' (class_floor)."""
    from synthgap.variants import selector_sets, set_names
    sets = {m: v for m, (v, _) in selector_sets(opts).items()}
    from align.api import Plan
    plans = {m: Plan.load(opts.out / f) for m, (_, f) in selector_sets(opts).items() if (opts.out / f).exists()}
    has_base = BASELINE_SET in set_names(opts) and (dist.get(BASELINE_SET) or {}).get("mean_db") is not None
    scores = {s: sc for s, sc, _ in zoo_rows(opts, dist, [v for v in sets.values() if v in dist])} if opts.zoo else {}
    cands = [candidate(v, m, plans.get(m), (dist.get(v) or {}).get("mean_db"), metas, scores.get(v))
             for m, v in sets.items()]
    floor = class_floor(class_tables, metas, opts.seed) if class_tables else real_floor(real_t, metas, opts.seed)
    rec = recommend(cands, dist[BASELINE_SET]["mean_db"] if has_base else None, floor, opts.probe_ci)
    return {**rec, "zoo": str(opts.zoo) if opts.zoo else None}


def migrate_old_layout(opts: Any, log: Callable[[str], None]) -> None:
    """A run folder made before sets were named by their selector holds the component selector's set as
    sets/aligned and no recommended.json: that set becomes sets/aligned-component (renamed, with its distances
    and benchmark cells), so the folder resumes without rendering or training it again."""
    from align.api import SELECTORS
    out, new = opts.out, SELECTORS.get("component").variant
    old_dir = out / "sets" / ALIAS
    if (out / "recommended.json").exists() or not (old_dir / "DONE").exists() or (out / "sets" / new).exists() \
            or not (out / "plan.yaml").exists():
        return
    os.rename(old_dir, out / "sets" / new)
    dpath = out / "distances.json"
    if dpath.exists():
        dist = read_json(dpath, "distances")
        if ALIAS in dist:
            dist[new] = dist.pop(ALIAS)
            atomic_write_json(dpath, dist)
    cells = 0
    if (out / "benchmark" / "run.json").exists():
        from benchmark.api import rename_variant
        cells = rename_variant(out / "benchmark", ALIAS, new, str(out / "sets" / new))
    log(f"run folder of the earlier layout: sets/{ALIAS} (the component selector's set) is now sets/{new} "
        f"({cells} benchmark cell(s) renamed); sets/{ALIAS} becomes the recommended selector's set")
