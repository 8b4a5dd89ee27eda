"""Task-aware re-weighting of a top-down round's increment (issue 25; `synthgap run --rounds N --lookahead STEPS`).

With --lookahead STEPS, or with FALLBACK_STEPS in a round whose failing boxes differ from the found ones in no
metadata (lookahead_steps: the issue's fallback to task-aware value), round k's failure-driven plan
(synthgap/rounds.py step 2) is written as rounds/r<k>/plan-failures.yaml, and then:
1. rounds/r<k>/lookahead.json: the value of every probed config to round k-1's detector (the first seed's
   synthetic cell of round k-1's set), benchmark/lookahead.py: STEPS SGD steps on the config's probe renders,
   the drop of the detector's loss on half A of the exposed photos (half B, also unseen by the steps, reported
   beside it with the rank agreement of the two halves);
2. the increment re-weighted by multiplicative weights (Hedge): w_c ~ q_c exp(eta z_c), z the values on half A
   standardised over the configs, q the failure plan's shares mixed with EXPLORE of a uniform share over the
   probed configs, so a config the failure fit left out comes in when the detector values it. Hedge and not a
   bandit: each round observes every config's value (full information), Hedge's setting; a bandit (EXP3) is for
   feedback on the chosen arm alone and would waste the probes' other values;
3. the realism bound that keeps the set aligned: eta is the largest of ETAS for which the whole grown set (the
   plans of round 0 to k-1 and this increment, predicted from the probes by align's plan_mixture_table) is no
   further from the exposed boxes in mean D_B (the run's fit metadata) than with the failure plan, plus
   --lookahead-slack; when none passes, the failure plan stays as it is.
plan.yaml is written last, so a killed round redoes only what is missing; the values, eta and the predicted
D_B go into the plan's notes and lookahead.json. Only exposed photos are read; test photos only score.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core.api import atomic_write_json, log, read_json

EXPLORE = 0.2
ETAS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.0)
DETECTOR = "frcnn"           # the values are its losses (benchmark/lookahead.py)
FALLBACK_STEPS = 3           # the steps of a round that falls back to the lookahead (synthgap/rounds.py), as studied


def lookahead_steps(opts, fails: dict) -> int:
    """The lookahead's SGD steps for a round with failure record `fails`: --lookahead when given; else, when the
    failing boxes differ from the found ones in no metadata, FALLBACK_STEPS (issue 25's fallback to task-aware
    value: nothing tells the failures apart for the fit to follow, so the detector's own value of each config
    re-weights the increment), if the first detector is DETECTOR; else 0 (off)."""
    if opts.lookahead:
        return opts.lookahead
    return FALLBACK_STEPS if not fails["differs"] and opts.detectors[0] == DETECTOR else 0


def hedge(shares: dict[str, float], values: dict[str, float], eta: float, explore: float = EXPLORE) -> dict[str, float]:
    """Hedge's weights (module docstring, step 2) over `values`' configs: shares q mixed with `explore` of a
    uniform share, times exp(eta z); normalised to sum 1."""
    names = sorted(values)
    v = np.array([values[c] for c in names], float)
    z = (v - v.mean()) / v.std() if v.std() > 0 else np.zeros_like(v)
    q = np.array([shares.get(c, 0.0) for c in names], float)
    q = (1 - explore) * q / max(q.sum(), 1e-12) + explore / len(names)
    w = q * np.exp(eta * z)
    return {c: float(x) for c, x in zip(names, w / w.sum())}


def _whole_db(prior, entries, probes, real_t, metas: list[str], seed: int) -> float | None:
    """Predicted mean D_B of the grown set (the prior plans' entries plus `entries`) to the exposed boxes."""
    from align.api import Plan, compare_tables, finite_mean, plan_mixture_table
    every = [e for p in prior for e in p.entries] + list(entries)
    table = plan_mixture_table(Plan(sum(e.count for e in every), every), probes, seed=seed)
    return finite_mean(r.db for r in compare_tables(real_t, table, metas).values())


def _entries(counts: dict[str, int], probes, values: dict, shares: dict, weights: dict) -> list:
    from align.api import PlanEntry
    return [PlanEntry(probes[c].config, c, n, [], f"task-aware: value {values[c]:+.4f} on half A, share "
                      f"{shares.get(c, 0.0):.2f} -> {weights[c]:.2f}") for c, n in sorted(counts.items()) if n]


def reweight(failure, prior: list, values: dict[str, float], probes, real_t, metas: list[str], slack: float,
             seed: int):
    """(plan, record): the failure plan re-weighted under the realism bound (module docstring, steps 2-3)."""
    from core.api import apportion
    total = sum(e.count for e in failure.entries)
    shares: dict[str, float] = {}
    for e in failure.entries:
        shares[e.config_name] = shares.get(e.config_name, 0.0) + e.count / max(total, 1)
    ref = _whole_db(prior, failure.entries, probes, real_t, metas, seed)
    tried = []
    for eta in ETAS:
        w = hedge(shares, values, eta)
        counts = dict(zip(sorted(w), apportion([w[c] for c in sorted(w)], total)))
        entries = _entries(counts, probes, values, shares, w)
        db = _whole_db(prior, entries, probes, real_t, metas, seed)
        tried.append({"eta": eta, "whole_mean_db": db})
        if ref is None or (db is not None and db <= ref + slack):
            return entries, {"eta": eta, "whole_mean_db": db, "failure_whole_mean_db": ref, "bound": slack,
                             "tried": tried, "counts": counts}
    return list(failure.entries), {"eta": None, "whole_mean_db": ref, "failure_whole_mean_db": ref, "bound": slack,
                                   "tried": tried, "counts": {e.config_name: e.count for e in failure.entries}}


def _samples(dirs: list[Path], names: list[str], imgsz: int) -> list:
    from benchmark.api import frcnn_samples
    from core.api import load_coco
    out = []
    for d in dirs:
        out += frcnn_samples(load_coco(d / "coco_annotations.json", d), None, names, imgsz)
    return out


def values_record(opts, weights: Path, probes: dict, path: Path, steps: int) -> dict:
    """rounds/r<k>/lookahead.json (step 1): `steps` SGD steps per config; kept when it exists."""
    if path.exists():
        return read_json(path, "lookahead")
    from align.api import probe_dirs
    from benchmark.api import Halves, checkpoint_names, config_values, frcnn_samples
    from core.api import load_coco, load_split
    names = checkpoint_names(weights)
    real = load_coco(opts.real_json, opts.images, category=opts.category)
    exposed = sorted(int(i) for i in load_split(opts.split, real).exposed)
    photos = {s.image_id: s for s in frcnn_samples(real, exposed, names, opts.imgsz)}
    renders = {c: _samples(probe_dirs(opts.out / "probes", c), names, opts.imgsz) for c in probes}
    renders = {c: r for c, r in renders.items() if r}
    log(f"lookahead: {len(renders)} configs x {steps} steps against {weights.parent.name}'s detector, "
        f"{len(exposed)} exposed photos in two halves")
    t0 = time.monotonic()
    rec = config_values(weights, renders, photos, Halves.draw(exposed, opts.seed), steps=steps,
                        seed=opts.seed, imgsz=opts.imgsz,
                        progress=lambda c, v: log(f"lookahead {c}: {v['value_a']:+.4f} (A) {v['value_b']:+.4f} (B)"))
    atomic_write_json(path, {**rec, "weights": str(weights), "seconds": round(time.monotonic() - t0, 1)})
    return read_json(path, "lookahead")


def task_aware_plan(opts, real_t, fit, prior: list, weights: Path, rdir: Path, steps: int) -> None:
    """rounds/r<k>/plan.yaml from plan-failures.yaml (module docstring), `steps` SGD steps per config (
    lookahead_steps); nothing when plan.yaml exists."""
    from align.api import Plan, load_probes
    if (rdir / "plan.yaml").exists():
        return
    failure = Plan.load(rdir / "plan-failures.yaml")
    probes = load_probes(opts.out / "probes", category=opts.category)
    vals = values_record(opts, weights, probes, rdir / "lookahead.json", steps)
    values = {c: v["value_a"] for c, v in vals["configs"].items()}
    for e in failure.entries:        # a failure config without a valued render keeps a neutral value (z = 0)
        values.setdefault(e.config_name, float(np.mean(list(values.values()))) if values else 0.0)
    entries, rec = reweight(failure, prior, values, {c: probes[c] for c in values}, real_t, list(fit.metadata),
                            opts.lookahead_slack, opts.seed)
    agree = vals.get("agreement")
    failure.entries = entries
    if rec["eta"] is not None:       # the failure fit's predictions no longer describe these entries
        failure.predicted_db, failure.predicted_ci, failure.predicted, failure.probe_images = {}, {}, {}, {}
    failure.notes.append(
        "task-aware lookahead: " + (f"Hedge eta {rec['eta']}" if rec["eta"] is not None else "no eta kept the grown "
                                    "set within the bound: the failure plan stays") +
        f"; whole grown set predicted mean D_B {_f(rec['whole_mean_db'])} vs {_f(rec['failure_whole_mean_db'])} with "
        f"the failure plan (bound +{opts.lookahead_slack}); values' rank agreement of the two exposed halves "
        f"{_f(agree)}" + (" (weak: the values may be noise)" if agree is None or agree < 0.3 else ""))
    atomic_write_json(rdir / "lookahead-plan.json", rec)
    failure.to_yaml(rdir / "plan.yaml")


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"
