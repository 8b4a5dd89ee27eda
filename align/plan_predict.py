"""A render plan's prediction from the probes (every selector of align/select.py calls `predict_plan` last).

Prediction: `plan_mixture_table()` resamples each chosen probe's images (with their boxes) to the entry's count
(without replacement while the probe has enough images, deterministic seed) - the metadata the planned
render is expected to have - and `predicted_db` is its D_B (align/distances.py) to the real sample.

Probe adequacy: a probe of a dozen images gives a noisy prediction. `predicted_ci` is, per aligned metadata,
the 95 % percentile interval of the predicted D_B over PROBE_BOOTSTRAP draws that resample each chosen
probe's images with replacement (to the probe's own image count; the real sample is held fixed, so the interval
is the probes' share of the uncertainty). `Plan.wide(bound)` lists the metadata whose interval is wider than
`bound`; `synthgap run` then grows the chosen probes (extra renders of the same config in
PROBES/.more/<config>/r<k>/, appended to the probe by `load_probes`) and selects again.

Grid reach (`Plan.reach`, `grid_reach()`): per aligned metadata, the probe means' range across the grid and its
span in real standard deviations. The grid *moves* the metadata when the span is at least REACH_SPAN (0.25 σ)
and a one-way ANOVA across the probes gives p < 0.05 (a span from probe noise alone does not count). When the
real mean lies outside every probe mean ± 2 standard errors, no mixture of the grid reaches it: a warning says
so - "the grid cannot move it" (span under REACH_SPAN: vary a grid key that drives it, named per metadata in
DRIVERS, e.g. `effects.exposure_ev` for brightness), "the probes are too small to show that the grid moves it"
(span enough, ANOVA p >= 0.05) or "cannot reach" (widen the grid) - logged and written into the plan.
Any numeric column aligns like box metadata this way, image-level ones (brightness, contrast) included.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from align.distances import bhattacharyya
from align.gmm import Fit
from align.metadata import NUMERIC_METADATA, MetadataTable
from align.plan import Plan
from align.probes import Probe
from core.errors import UserError

log = logging.getLogger("align")

PROBE_BOOTSTRAP = 200
REACH_SPAN = 0.25
DRIVERS = {"brightness": " (effects.exposure_ev, lights.energy)", "contrast": " (effects.exposure_ev, lights)",
           "cy": " (camera.target_v, camera.elevation_deg)", "cx": " (camera.target_u)",
           "area_frac": " (camera.distance)", "area_px": " (camera.distance, resolution)",
           "depth": " (camera.distance)", "sharpness": " (blur_sigma_px, effects.noise_sigma)",
           "blur": " (blur_sigma_px)", "boxes_per_image": " (objects_per_scene)"}


def plan_mixture_table(plan: Plan, probes: dict[str, Probe], seed: int = 0) -> MetadataTable:
    """Predicted metadata of the planned render: each entry's probe images (with their boxes) resampled to the
    entry's count - without replacement up to the probe's image count, whole copies plus a sample beyond."""
    rng = np.random.default_rng(seed)
    probes = {n: Probe(*p) for n, p in probes.items()}
    parts = []
    for e in plan.entries:
        k = int(e.count)
        if k <= 0:
            continue
        name = e.config_name
        if name not in probes:
            raise UserError(f"plan entry {name}: no probe with that config name")
        t = probes[name].table
        img_ids = np.unique(t.values("image_id", "image"))
        if img_ids.size == 0:
            continue
        reps, rest = divmod(k, img_ids.size)
        chosen = np.concatenate([np.tile(img_ids, reps), rng.choice(img_ids, size=rest, replace=False)])
        ids_all = t.data["image_id"]
        idx = np.concatenate([np.flatnonzero(ids_all == i) for i in chosen]) if chosen.size else np.array([], int)
        parts.append(t.subset(idx, dataset=name))
    if not parts:
        raise UserError("plan has no images to predict from")
    return MetadataTable.concat(parts, dataset="predicted-mixture")


def _summary(v: np.ndarray) -> dict:
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if v.size else None, "std": float(v.std()) if v.size else None, "n": int(v.size)}


def _real_values(m: str, fit: Fit, real: MetadataTable | None) -> np.ndarray | None:
    if real is not None:
        return real.values(m, fit.level)
    return np.asarray(fit.data[m], dtype=float) if m in fit.data else None


def predict_plan(plan: Plan, fit: Fit, probes: dict, real: MetadataTable | None, seed: int) -> None:
    """The plan's predicted metadata and D_B, the probes' bootstrap interval of it, and the grid's reach."""
    probes = {n: Probe(*p) for n, p in probes.items()}
    mix = plan_mixture_table(plan, probes, seed)
    names = list(fit.metadata)
    if real is not None:
        names += [m for m in NUMERIC_METADATA if m not in names and real.has(m, fit.level) and mix.has(m, fit.level)]
    for m in names:
        rv = _real_values(m, fit, real)
        if rv is None:
            continue
        pv = mix.values(m, fit.level)
        r = bhattacharyya(rv, pv)
        plan.predicted_db[m] = None if r.db is None else round(r.db, 6)
        plan.predicted[m] = _summary(pv)
        plan.real[m] = _summary(np.asarray(rv, dtype=float))
    plan.predicted_ci = predicted_intervals(plan, fit, probes, real, seed)
    plan.probe_images = {e.config_name: int(np.unique(probes[e.config_name].table.values("image_id", "image")).size)
                         for e in plan.entries}
    plan.reach = grid_reach(fit, probes, real)
    for m, r in plan.reach.items():
        if r["note"]:
            log.warning("metadata %s: %s", m, r["note"])
            plan.notes.append(f"{m}: {r['note']}")


def _bootstrap_probe(t: MetadataTable, rows_of: list[np.ndarray], rng: np.random.Generator) -> MetadataTable:
    """The probe's images drawn with replacement (same image count); each draw gets its own image id."""
    pick = rng.integers(0, len(rows_of), size=len(rows_of))
    idx = np.concatenate([rows_of[i] for i in pick])
    out = t.subset(idx)
    out.data["image_id"] = np.repeat(np.arange(len(pick), dtype=float), [rows_of[i].size for i in pick])
    return out


def predicted_intervals(plan: Plan, fit: Fit, probes: dict[str, Probe], real: MetadataTable | None, seed: int,
                        B: int = PROBE_BOOTSTRAP) -> dict[str, list[float]]:
    """{aligned metadata: [lo, hi]}: the 95 % percentile interval of the predicted D_B when each chosen probe's
    images are resampled with replacement (module docstring, "Probe adequacy")."""
    chosen = sorted({e.config_name for e in plan.entries if e.count > 0})
    rows_of = {}
    for n in chosen:
        ids = probes[n].table.data["image_id"]
        rows_of[n] = [np.flatnonzero(ids == i) for i in np.unique(ids[np.isfinite(ids)])]
    reals = {m: _real_values(m, fit, real) for m in fit.metadata}
    draws: dict[str, list[float]] = {m: [] for m in reals if reals[m] is not None}
    rng = np.random.default_rng([seed, 7919])
    for b in range(B):
        boot = {n: Probe(probes[n].config, _bootstrap_probe(probes[n].table, rows_of[n], rng)) for n in chosen}
        mix = plan_mixture_table(plan, boot, seed + b)
        for m in draws:
            db = bhattacharyya(reals[m], mix.values(m, fit.level)).db
            if db is not None:
                draws[m].append(db)
    return {m: [round(float(np.percentile(v, 2.5)), 6), round(float(np.percentile(v, 97.5)), 6)]
            for m, v in draws.items() if v}


def grid_reach(fit: Fit, probes: dict[str, Probe], real: MetadataTable | None) -> dict[str, dict]:
    """Per aligned metadata: the probe means' range across the grid, its span in real standard deviations, and
    a note when the grid cannot move the metadata or cannot reach the real mean (module docstring)."""
    out = {}
    for m in fit.metadata:
        rv = _real_values(m, fit, real)
        groups = [v[np.isfinite(v)] for p in probes.values() if p.table.has(m, fit.level)
                  for v in [p.table.values(m, fit.level)]]
        groups = [g for g in groups if g.size]
        if rv is None or not groups or not np.isfinite(rv).any():
            continue
        rv = rv[np.isfinite(rv)]
        mu, sd = float(rv.mean()), float(rv.std()) or 1.0
        means = np.array([g.mean() for g in groups])
        se = np.array([g.std() / math.sqrt(g.size) for g in groups])
        span = float(means.max() - means.min()) / sd
        p_between = _anova_p(groups)
        outside = max(float((means - 2 * se).min()) - mu, mu - float((means + 2 * se).max()), 0.0) / sd
        moves = span >= REACH_SPAN and p_between < 0.05
        note = ""
        where = (f"the {len(groups)} probe means span {span:.2f} real σ ({means.min():.4g}..{means.max():.4g}; "
                 f"between-config p = {p_between:.2g}) and the real mean {mu:.4g} lies {outside:.2f} real σ beyond "
                 "them (± 2 standard errors)")
        if outside > 0 and span < REACH_SPAN:
            note = f"the grid cannot move it: {where}; vary a grid key that drives it{DRIVERS.get(m, '')}"
        elif outside > 0 and not moves:
            note = (f"the probes are too small to show that the grid moves it: {where}; grow the probes (--probe-n) "
                    f"or vary a grid key that drives it{DRIVERS.get(m, '')}")
        elif outside > 0:
            note = (f"the grid cannot reach the real mean {mu:.4g}: probe means {means.min():.4g}..{means.max():.4g}"
                    f" (± 2 standard errors) stay {outside:.2f} real σ away; widen the grid{DRIVERS.get(m, '')}")
        out[m] = {"probe_mean_min": round(float(means.min()), 6), "probe_mean_max": round(float(means.max()), 6),
                  "real_mean": round(mu, 6), "span_sd": round(span, 4), "p_between": round(p_between, 6),
                  "moves": bool(moves), "outside_sd": round(outside, 4), "note": note}
    return out


def _anova_p(groups: list[np.ndarray]) -> float:
    """p-value of one-way ANOVA across the probes (1.0 when it is undefined: one probe, or no spread at all)."""
    groups = [g for g in groups if g.size >= 2]
    if len(groups) < 2:
        return 1.0
    allv = np.concatenate(groups)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups)
    between = sum(g.size * (g.mean() - allv.mean()) ** 2 for g in groups)
    df_b, df_w = len(groups) - 1, allv.size - len(groups)
    if df_w <= 0 or between <= 0:
        return 1.0
    if within <= 0:
        return 0.0
    from scipy.stats import f
    return float(f.sf((between / df_b) / (within / df_w), df_b, df_w))
