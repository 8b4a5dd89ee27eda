"""Top-down rounds (`synthgap run --rounds N`; issue 25, the thesis' §4.4.2 "Top-Down Approach"): render more of
what the detector gets wrong on the real *exposed* photos.

Round 0 is the run's recommended set as the benchmark trained it. Round k (1..N), in RUN/rounds/r<k>/:
    1. failures.json   round k-1's detector (the benchmark's synthetic cells of its set: the first detector,
                       every seed, scores averaged) run on the exposed photos; per real box its best score
                       (benchmark/failures.py: a detection of its class at IoU >= 0.5); failing = missed or
                       under --fail-score; per metadata, D_B of the failing boxes to the found ones with its
                       interval and a KS test (`differs`: p < 0.05 / number of metadata, Bonferroni)
    2. fit.json        the GMM of the failing boxes (--mode, --kmax) on the run's fit metadata plus those in which
                       the failing boxes differ from the found ones
       plan.yaml       the recommended selector on that fit: --increment images from the run's probes; with
                       --lookahead, or when the failing boxes differ from the found ones in no metadata (the
                       fallback: nothing for the fit to follow), re-weighted by the task-aware lookahead
                       (synthgap/lookahead.py, FALLBACK_STEPS), the failure fit's plan kept as plan-failures.yaml
    3. increment/      that plan rendered;  RUN/sets/round<k> = round k-1's set + the increment
       oneshot-plan.yaml, oneshot-increment/: the equal-budget control: --increment more images of the recommended
                       selector's plan for the run's own fit;  RUN/sets/oneshot<k> = oneshot<k-1> (round 0: the
                       recommended set) + those, i.e. the one-shot aligned set of round k's size
    4. the benchmark trains both as every set (RUN/benchmark), and round k's set also warm-started from round
       k-1's cell (regime warm, benchmark/regimes.py); round k's exposed mAP (its cells' validation mAP at
       the best epoch, mean over seeds) against round k-1's: the rounds stop when the gain is under --round-gain
RUN/rounds/rounds.json: one record per finished round (the report's section). `--plan-only` (the refine-plan stage)
runs steps 1-2 of the next unfinished round and stops; a rerun without it goes on from its plan. The detector here
only ever sees exposed photos (its epoch was chosen on them; it never trained on them, so no cross-validation is
needed); test photos only score, in the benchmark. Every step is skipped when its output exists: a killed round
resumes. A run resumed with more --seeds trains the finished rounds' sets on the new seeds and rewrites their
records; their failure tables, plans and increments stay as made by the seeds present then.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.api import atomic_write_json, log, read_json

from synthgap.seeds import render_seed

RENDER_S = "render_s.json"     # {set or increment: wall seconds of its render}: RUN/ (the aligned sets), rounds/r<k>/

ROUND, ONESHOT = "round", "oneshot"
P_LEVEL = 0.05


def round_sets(k: int) -> tuple[str, str]:
    """(top-down set, its equal-budget one-shot control) of round k >= 1."""
    return f"{ROUND}{k}", f"{ONESHOT}{k}"


def _set_of_round(rec: dict, k: int) -> tuple[str, str]:
    return (rec["recommended"], rec["recommended"]) if k == 0 else round_sets(k)


def _cells(bench: Path, variant: str, detector: str) -> list[dict]:
    """The synthetic-regime results records of `variant` and `detector`, by seed."""
    recs = [read_json(p, "results record") for p in sorted((bench / "results").glob(f"{variant}__{detector}__*.json"))]
    return sorted((r for r in recs if r.get("regime", "synthetic") == "synthetic" and r["variant"] == variant),
                  key=lambda r: r["seed"])


def exposed_map(bench: Path, variant: str, detector: str) -> float | None:
    """Mean over seeds of the synthetic cells' validation mAP (the exposed photos, at the best epoch)."""
    vals = [c["val"]["map"] for c in _cells(bench, variant, detector) if c.get("val", {}).get("map") is not None]
    return float(np.mean(vals)) if vals else None


def failure_record(opts, real_t, fit, variant: str) -> dict:
    """Step 1: round k-1's detector on the exposed photos -> per box scores, the failing boxes, the comparison."""
    from benchmark.api import box_scores, compare_groups, failing, predict_cell
    from core.api import load_coco, load_split
    bench, det = opts.out / "benchmark", opts.detectors[0]
    cells = _cells(bench, variant, det)
    if not cells:
        from core.api import UserError
        raise UserError(f"{bench / 'results'}: no synthetic {det} cell of {variant}: --rounds needs round "
                        f"{variant}'s detector (drop --bench-variants or include {variant})")
    real = load_coco(opts.real_json, opts.images, category=opts.category)
    exposed = list(load_split(opts.split, real).exposed)
    spec = opts.bench_spec([], bench, list(fit.metadata))
    gt = real.subset(exposed, real.class_names(opts.category))
    per_seed = [box_scores(gt, predict_cell(spec, c, exposed)) for c in cells]
    scores = {a: float(np.mean([s[a] for s in per_seed])) for a in per_seed[0]}
    fail = failing(scores, opts.fail_score)
    ann = real_t.values("ann_id", "bbox")
    is_fail = np.array([int(a) in fail for a in ann])
    metas = [m for m in dict.fromkeys([*fit.metadata, "area_frac", "cy", "cx", "aspect", "brightness", "contrast",
                                        "sharpness"]) if real_t.has(m, "bbox")]
    cmp = compare_groups({m: real_t.values(m, "bbox")[is_fail] for m in metas},
                         {m: real_t.values(m, "bbox")[~is_fail] for m in metas}, seed=opts.seed)
    for r in cmp.values():
        r["differs"] = r["p"] is not None and r["p"] < P_LEVEL / len(metas)
    return {"detector": det, "cells": [c["seed"] for c in cells], "from_set": variant, "n_boxes": len(scores),
            "n_failing": len(fail), "n_missed": sum(s == 0.0 for s in scores.values()),
            "fail_score": opts.fail_score, "scores": {str(a): s for a, s in sorted(scores.items())},
            "failing": sorted(fail), "compare": cmp, "differs": [m for m, r in cmp.items() if r["differs"]]}


def failing_table(real_t, failing_ids: list[int]):
    """The real exposed table restricted to the failing boxes (and the image rows of their photos)."""
    fail = set(failing_ids)
    ann, img, level = real_t.values("ann_id", None), real_t.values("image_id", None), real_t.data["level"]
    imgs = {i for a, i in zip(ann, img) if np.isfinite(a) and int(a) in fail}
    keep = np.array([(lv == "bbox" and np.isfinite(a) and int(a) in fail) or
                     (lv != "bbox" and np.isfinite(i) and int(i) in imgs) for lv, a, i in zip(level, ann, img)])
    return real_t.subset(keep, "real-exposed-failing")


def _selector(opts, rec: dict) -> str:
    return rec.get("selector") or opts.selectors[0]


def failure_metadata(fit, fails: dict) -> list[str]:
    """What the failing boxes' fit aligns on first: the run's fit metadata, plus every metadata in which the
    failing boxes differ from the found ones (what tells the failures apart is what the increment must show)."""
    return list(dict.fromkeys([*fit.metadata, *fails["differs"]]))


def _failure_plan(opts, sel, table, metas: list[str], probes, rdir: Path):
    from align.api import Fit, fit_gmm
    fit_gmm(table, metadata=metas, mode=opts.mode, kmax=opts.kmax, seed=opts.seed).to_json(rdir / "fit.json")
    return opts.selector(sel, table).select(Fit.load(rdir / "fit.json"), probes, opts.increment_n)


def _out_of_reach(reach: dict | None) -> bool:
    """The reach record says the grid does not move the metadata, or its probes' means stay away from the target."""
    return reach is not None and (not reach.get("moves", True) or reach.get("outside_sd", 0) > 0)


def plan_round(opts, real_t, fit, rec: dict, fails: dict, rdir: Path, lookahead: int) -> None:
    """Step 2: the failing boxes' fit and the increment's plan; the one-shot control's plan (the run's own fit).
    A metadata added for the failures that the grid does not move or cannot reach (the plan's reach record) is
    dropped and the selection made again: chasing it would only trade away the match of the metadata the grid
    can move."""
    from align.api import load_probes
    sel = _selector(opts, rec)
    probes = load_probes(opts.out / "probes", category=opts.category)
    failure_plan = rdir / ("plan-failures.yaml" if lookahead else "plan.yaml")
    if not failure_plan.exists() and not (rdir / "plan.yaml").exists():
        table, metas = failing_table(real_t, fails["failing"]), failure_metadata(fit, fails)
        plan = _failure_plan(opts, sel, table, metas, probes, rdir)
        out = [m for m in metas if m not in fit.metadata and _out_of_reach(plan.reach.get(m))]
        if out:
            plan = _failure_plan(opts, sel, table, [m for m in metas if m not in out], probes, rdir)
            plan.notes.append(f"the failing boxes differ in {', '.join(out)} too, which the grid does not move "
                              "or cannot reach (the plan's reach record): not aligned on; vary or widen the grid there")
        plan.notes.append(f"top-down round: fitted to the {fails['n_failing']} of {fails['n_boxes']} exposed boxes "
                          f"that {fails['from_set']}'s detector missed or scored under {fails['fail_score']}")
        plan.to_yaml(failure_plan)
    if not (rdir / "oneshot-plan.yaml").exists():
        opts.selector(sel, real_t).select(fit, probes, opts.increment_n).to_yaml(rdir / "oneshot-plan.yaml")


def build_round_sets(opts, rec: dict, k: int, rdir: Path, render) -> dict:
    """Step 3: the increments rendered and merged onto round k-1's sets. -> {increment: render seconds} (this
    machine's wall time, summed over resumed parts; rdir/render_s.json)."""
    from core.api import merge_dirs, timed
    sets, prev = opts.out / "sets", _set_of_round(rec, k - 1)
    cpath = rdir / RENDER_S
    for name, plan, inc, base, role in ((round_sets(k)[0], "plan.yaml", "increment", prev[0], "round"),
                                        (round_sets(k)[1], "oneshot-plan.yaml", "oneshot-increment", prev[1],
                                         "oneshot")):
        if not (rdir / inc / "DONE").exists():
            log(f"round {k}: rendering {inc} ({opts.increment_n} images of {plan})")
            with timed(cpath, inc):
                render(rdir / plan, None, rdir / inc, render_seed(opts.seed, role, k))
        if not (sets / name / "DONE").exists():
            n = merge_dirs([sets / base, rdir / inc], sets / name, 10 ** 9, {"round": k, "set": name})
            log(f"round {k}: sets/{name} = sets/{base} + {inc} ({n} images)")
    return read_json(cpath, "render times") if cpath.exists() else {}


def benchmark_round(opts, fit, rec: dict, k: int) -> None:
    """Step 4: the round's two sets trained and scored like every set, and the round's set once more warm-started
    from round k-1's synthetic cell (regime warm); the benchmark report rewritten."""
    from benchmark.api import run_matrix, write_report
    names, prev = list(round_sets(k)), _set_of_round(rec, k - 1)[0]
    run_matrix(opts.bench_spec([(v, str(opts.out / "sets" / v)) for v in names], opts.out / "benchmark",
                               fit.metadata, regimes=[*opts.regimes, "warm"], warm_from={names[0]: prev}))
    write_report(opts.out / "benchmark", B=opts.bootstrap)


def run_rounds(opts, real_t, fit, rec: dict, render, distances) -> list[dict]:
    """Rounds 1..--rounds (module docstring); `distances(names)` measures sets (stages.stage_distances).
    -> the rounds' records (RUN/rounds/rounds.json)."""
    det = opts.detectors[0]
    path = opts.out / "rounds" / "rounds.json"
    _pin(opts, rec)
    done = {r["round"]: r for r in (read_json(path, "rounds")["rounds"] if path.exists() else [])}
    records = []
    for k in range(1, opts.rounds + 1):
        prev = _set_of_round(rec, k - 1)[0]
        if k in done and _trained(opts, done[k]):
            records.append(done[k])
        elif opts.plan_only:
            plan_only(opts, real_t, fit, rec, k)
            break
        else:        # new, killed, or resumed with more --seeds: every finished step is skipped
            records.append(_one_round(opts, real_t, fit, rec, k, render, distances))
            done[k] = records[-1]
            atomic_write_json(path, {"rounds": [done[j] for j in sorted(done)], "selector": _selector(opts, rec),
                                     "round0": rec["recommended"], "increment": opts.increment_n, "detector": det})
        gain = records[-1]["gain"]
        log(f"round {k}: exposed mAP {records[-1]['exposed_map']:.3f} (round {k - 1}, {prev}: "
            f"{records[-1]['exposed_map_before']:.3f}; gain {gain:+.3f})")
        if gain < opts.round_gain:
            log(f"rounds: stopped after round {k}: the gain on the exposed photos {gain:+.3f} is under "
                f"--round-gain {opts.round_gain}")
            break
    return records


def _trained(opts, record: dict) -> bool:
    """Whether the round's two sets have a synthetic cell for every seed of the run."""
    bench, det = opts.out / "benchmark", opts.detectors[0]
    return all({c["seed"] for c in _cells(bench, v, det)} >= set(opts.seeds)
               for v in (record["set"], record["oneshot"]))


def _pin(opts, rec: dict) -> None:
    """RUN/rounds/settings.json: what the rounds' outputs depend on beyond run.json; other values are refused."""
    from core.api import UserError
    path = opts.out / "rounds" / "settings.json"
    key = {"increment": opts.increment_n, "fail_score": opts.fail_score, "selector": _selector(opts, rec),
           "round0": rec["recommended"], "detector": opts.detectors[0]}
    if opts.lookahead:       # recorded only when on, so rounds made before the option resume unchanged
        key.update(lookahead=opts.lookahead, lookahead_slack=opts.lookahead_slack)
    if path.exists():
        old = read_json(path, "rounds settings")
        diff = {k: (old.get(k), v) for k, v in key.items() if old.get(k) != v}
        if diff:
            raise UserError(f"{path}: the rounds of this run were made with other settings {diff} (old, new); "
                            "rerun with the old ones, or delete RUN/rounds and the round sets to start the rounds over")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, key)


def plan_only(opts, real_t, fit, rec: dict, k: int) -> None:
    """--plan-only, the refine-plan stage: round k's steps 1-2 (its failure table and its plan, re-weighted by the
    lookahead where it runs) and a log of what it would render; a later run without the flag goes on from there."""
    rdir = opts.out / "rounds" / f"r{k}"
    _plan_step(opts, real_t, fit, rec, k, rdir)
    log(f"round {k} planned (--plan-only): {rdir / 'plan.yaml'}: " + ", ".join(
        f"{e['config']} x{e['count']}" for e in _entries(rdir / "plan.yaml")) + f"; the one-shot control "
        f"{rdir / 'oneshot-plan.yaml'}; rerun without --plan-only to render, train and score the round")


def _plan_step(opts, real_t, fit, rec: dict, k: int, rdir: Path) -> dict:
    """Steps 1-2 of round k (module docstring), each skipped when its output exists. -> the failure record."""
    rdir.mkdir(parents=True, exist_ok=True)
    prev = _set_of_round(rec, k - 1)[0]
    fpath = rdir / "failures.json"
    if not fpath.exists():
        log(f"round {k}: {prev}'s detector on the exposed photos")
        atomic_write_json(fpath, failure_record(opts, real_t, fit, prev))
    fails = read_json(fpath, "failures")
    from synthgap.lookahead import lookahead_steps, task_aware_plan
    steps = lookahead_steps(opts, fails)
    log(f"round {k}: {fails['n_failing']} of {fails['n_boxes']} exposed boxes failing ({fails['n_missed']} missed); "
        + (f"they differ from the found ones in {', '.join(fails['differs'])}" if fails["differs"] else
           "they differ from the found ones in no metadata (KS test): " +
           (f"the increment falls back to the task-aware lookahead ({steps} steps)" if steps and not opts.lookahead
            else "the increment follows them anyway" + (", re-weighted by the lookahead" if steps else ""))))
    plan_round(opts, real_t, fit, rec, fails, rdir, steps)
    if steps:
        task_aware_plan(opts, real_t, fit, prior_plans(opts, rec, k), round_weights(opts, prev), rdir, steps)
    return fails


def _one_round(opts, real_t, fit, rec: dict, k: int, render, distances) -> dict:
    rdir = opts.out / "rounds" / f"r{k}"
    bench, det = opts.out / "benchmark", opts.detectors[0]
    prev = _set_of_round(rec, k - 1)[0]
    fails = _plan_step(opts, real_t, fit, rec, k, rdir)
    cost = build_round_sets(opts, rec, k, rdir, render)
    distances(list(round_sets(k)))
    benchmark_round(opts, fit, rec, k)
    name, one = round_sets(k)
    before, after = exposed_map(bench, prev, det), exposed_map(bench, name, det)
    return {"round": k, "set": name, "oneshot": one, "from": prev, "failures": {
        key: fails[key] for key in ("n_boxes", "n_failing", "n_missed", "fail_score", "compare", "differs")},
        "plan": _entries(rdir / "plan.yaml"), "oneshot_plan": _entries(rdir / "oneshot-plan.yaml"),
        "render_s": cost, "train_s": {v: sum(c.get("train_s", 0.0) for c in _cells(bench, v, det))
                                      for v in (prev, name, one)},
        "render_s_round0": (read_json(opts.out / RENDER_S, "render times").get(rec["recommended"])
                            if (opts.out / RENDER_S).exists() else None),
        "total": opts.total, "increment_n": opts.increment_n, "exposed_map_before": before, "exposed_map": after,
        "exposed_map_oneshot": exposed_map(bench, one, det),
        "gain": (after - before) if after is not None and before is not None else float("-inf"),
        "lookahead": lookahead_summary(rdir), "lookahead_fallback": not opts.lookahead and
        (rdir / "lookahead-plan.json").exists()}


def lookahead_summary(rdir: Path) -> dict | None:
    """The task-aware step's record for the report (synthgap/lookahead.py), None when it did not run."""
    if not (rdir / "lookahead-plan.json").exists():
        return None
    vals, rw = read_json(rdir / "lookahead.json", "lookahead"), read_json(rdir / "lookahead-plan.json", "lookahead")
    return {"values": vals["configs"], "agreement": vals.get("agreement"), "before": vals["before"],
            "steps": vals["steps"], "seconds": vals.get("seconds"), "eta": rw["eta"],
            "whole_mean_db": rw["whole_mean_db"],
            "failure_whole_mean_db": rw["failure_whole_mean_db"], "bound": rw["bound"], "counts": rw["counts"],
            "failure_plan": _entries(rdir / "plan-failures.yaml")}


def prior_plans(opts, rec: dict, k: int) -> list:
    """The plans round k's set grew from: the recommended set's and the increments of rounds 1..k-1."""
    from align.api import Plan
    from synthgap.variants import selector_sets
    first = opts.out / selector_sets(opts)[_selector(opts, rec)][1]
    return [Plan.load(first)] + [Plan.load(opts.out / "rounds" / f"r{j}" / "plan.yaml") for j in range(1, k)]


def round_weights(opts, variant: str) -> Path:
    """The checkpoint of `variant`'s first synthetic cell of the first detector (the lookahead's detector)."""
    from benchmark.api import cell_weights
    cells = _cells(opts.out / "benchmark", variant, opts.detectors[0])
    return cell_weights(opts.bench_spec([], opts.out / "benchmark", []), cells[0]["weights"])


def _entries(plan: Path) -> list[dict]:
    from align.api import Plan
    return [{"config": e.config_name, "count": e.count, "why": e.why} for e in Plan.load(plan).entries]
