"""Config selection: match renderer configs to the components of the real data's mixture -> render plan.

Inputs: a Fit (align/gmm.py) and, per candidate config, the metadata of a small probe render of it.

Criterion. Selection uses the fit's *joint* mixture components (top-level `components` of fit.json; in mode
"1d" the per-metadata fits are reported but a config is one point in all metadata at once, so per-metadata
picks could not be combined into one consistent set of configs). A probe p is scored against a component c by
a normalized mean + spread distance summed over the fit's metadata d:

    score(p, c) = Σ_d ((μ_p,d - μ_c,d) / σ_real,d)² + (ln(σ_p,d / σ_c,d))²

- μ_p,d, σ_p,d: mean and standard deviation of metadata d over the probe's rows (fit level, rows with every
  metadata finite); μ_c,d, σ_c,d = sqrt(Σ_c,dd): the component's mean and standard deviation;
- σ_real,d: the standard deviation of the whole real sample in d, so a mean offset counts in units of the real
  spread of that metadata (unit free, and every metadata weighs alike);
- the log ratio of spreads is 0 for equal spread and symmetric in too wide / too narrow; spreads are floored at
  1e-3·σ_real,d so a constant probe stays finite.
Each component picks the config of lowest score; ties (scores equal to 1e-9) go to the config name that sorts
first. Probes with fewer than 2 usable rows or lacking a metadata are left out (listed in `Plan.skipped`).

Counts: component c gets weight w_c of `total`; counts are rounded by largest remainder (floor, then one more
to the largest fractional parts, ties to the lower component index) so they sum exactly to `total`. When
several components pick the same config their counts are merged into one entry (`component` lists them).

Method "mixture" (`select_configs(..., method="mixture")`, synthgap's own, not the thesis'): instead of one
config per GMM component, the share of every probed config is estimated directly, as the weights w of the
mixture Σ_c w_c p_c(x) that maximize the likelihood of the real rows x (EM over the weights only; the
densities p_c are fixed). p_c is a Gaussian kernel density of probe c's rows in the real data's z-scores, with
a diagonal bandwidth h_d = max(h_min, σ_c,d · n_c^(-1/(d+4))) (Scott's factor; the floor h_min, 0.1 unless the
selector's option --mixture-bandwidth-min says otherwise, keeps a probe with a near-constant metadata from claiming
points by an infinitely narrow peak). EM starts from equal weights and
stops when no weight moves by more than 1e-7 (at most 5000 rounds); counts come from the weights by the same
largest-remainder rounding, and configs whose count rounds to 0 are left out. It uses every real row rather
than K summary Gaussians, so it recovers mixtures the component method misassigns when the GMM splits or
merges the real modes differently from the configs (small samples), and mixes several configs to cover a
wide unimodal spread that no single config matches.

The plan's prediction (its expected metadata, predicted D_B with the probes' bootstrap interval, and the grid's
reach) is align/plan_predict.py's: every selector calls `predict_plan(plan, fit, probes, real, seed)` last.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from align.gmm import Fit
from align.metadata import MetadataTable
from align.plan import Plan, PlanEntry
from align.plan_predict import predict_plan
from align.probes import Probe, _config_mapping
from core.errors import UserError

log = logging.getLogger("align")

TIE_TOL = 1e-9
MIN_PROBE_ROWS = 2


# ------------------------------------------------------------------------------------------------ selection
def largest_remainder(weights: np.ndarray, total: int) -> list[int]:
    """Non-negative integer counts proportional to weights that sum exactly to total (ties: lower index)."""
    w = np.clip(np.asarray(weights, dtype=float), 0, None)
    if w.sum() <= 0:
        w = np.ones_like(w)
    raw = w / w.sum() * total
    base = np.floor(raw).astype(int)
    rem = total - int(base.sum())
    frac = raw - base
    order = sorted(range(len(w)), key=lambda i: (-round(frac[i], 12), i))
    for i in order[:rem]:
        base[i] += 1
    return [int(x) for x in base]


def _probe_stats(table: MetadataTable, metadata: list[str], level: str) -> tuple[np.ndarray, np.ndarray, int] | str:
    cols = []
    for m in metadata:
        if not table.has(m, level):
            return f"no {m} values"
        cols.append(table.values(m, level))
    X = np.stack(cols, axis=1)
    X = X[np.isfinite(X).all(axis=1)]
    if X.shape[0] < MIN_PROBE_ROWS:
        return f"{X.shape[0]} usable {level} rows (need {MIN_PROBE_ROWS})"
    return X.mean(axis=0), X.std(axis=0), int(X.shape[0])


def score(mu_p: np.ndarray, sd_p: np.ndarray, mu_c: np.ndarray, sd_c: np.ndarray, sd_real: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(score, per-dim Δmean/σ_real, per-dim ln σ_p/σ_c) - the module docstring's criterion."""
    floor = 1e-3 * sd_real
    dm = (mu_p - mu_c) / sd_real
    lr = np.log(np.maximum(sd_p, floor) / np.maximum(sd_c, floor))
    return float((dm ** 2).sum() + (lr ** 2).sum()), dm, lr




def _real_rows(fit: Fit, real: MetadataTable | None) -> np.ndarray:
    md = list(fit.metadata)
    if real is not None and all(real.has(m, fit.level) for m in md):
        X = np.stack([real.values(m, fit.level) for m in md], axis=1)
    else:
        if not all(m in fit.data for m in md):
            raise UserError("method 'mixture' needs the real rows: pass the real metadata table or a fit.json "
                            "that stores its data")
        X = np.stack([np.asarray(fit.data[m], dtype=float) for m in md], axis=1)
    X = X[np.isfinite(X).all(axis=1)]
    if X.shape[0] < 2:
        raise UserError(f"method 'mixture': {X.shape[0]} usable real rows for {md} (need 2)")
    return X


def _kde_logpdf(x: np.ndarray, pts: np.ndarray, h_min: float = 0.1) -> np.ndarray:
    """log density at rows x of a diagonal Gaussian KDE over pts (module docstring: bandwidth, at least h_min)."""
    n, d = pts.shape
    h = np.maximum(h_min, pts.std(axis=0) * n ** (-1.0 / (d + 4)))
    z = (x[:, None, :] - pts[None, :, :]) / h                       # (m, n, d)
    logk = -0.5 * (z ** 2).sum(axis=2) - np.log(h).sum() - 0.5 * d * math.log(2 * math.pi)
    mx = logk.max(axis=1, keepdims=True)
    return (mx[:, 0] + np.log(np.exp(logk - mx).sum(axis=1))) - math.log(n)


def mixture_weights(X: np.ndarray, probe_rows: dict[str, np.ndarray], max_iter: int = 5000,
                    tol: float = 1e-7, h_min: float = 0.1) -> tuple[dict[str, float], float, int]:
    """ML weights of a mixture of fixed probe KDEs for the real rows X (all in the same z-scores).
    -> ({config_name: weight}, mean log-likelihood per real row, EM rounds)."""
    names = sorted(probe_rows)
    L = np.stack([_kde_logpdf(X, probe_rows[n], h_min) for n in names], axis=1)     # (m, C) log p_c(x_i)
    L = L - L.max(axis=1, keepdims=True)                                     # per-row shift: same EM
    P = np.exp(L)
    w = np.full(len(names), 1.0 / len(names))
    for it in range(1, max_iter + 1):
        r = P * w
        r /= np.maximum(r.sum(axis=1, keepdims=True), 1e-300)
        new = r.mean(axis=0)
        done = np.abs(new - w).max() < tol
        w = new
        if done:
            break
    full = np.stack([_kde_logpdf(X, probe_rows[n], h_min) for n in names], axis=1)
    ll = float(np.mean(np.log(np.maximum(np.exp(full) @ w, 1e-300))))
    return {n: float(x) for n, x in zip(names, w)}, ll, it


def _select_mixture(fit: Fit, probes: dict, total: int, real: MetadataTable | None, seed: int,
                    h_min: float = 0.1) -> Plan:
    md, level = list(fit.metadata), fit.level
    X = _real_rows(fit, real)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    rows, skipped = {}, []
    for name in sorted(probes):
        table = probes[name].table
        missing = [m for m in md if not table.has(m, level)]
        if missing:
            skipped.append(f"{name}: no {missing[0]} values")
            continue
        P = np.stack([table.values(m, level) for m in md], axis=1)
        P = P[np.isfinite(P).all(axis=1)]
        if P.shape[0] < MIN_PROBE_ROWS:
            skipped.append(f"{name}: {P.shape[0]} usable {level} rows (need {MIN_PROBE_ROWS})")
            continue
        rows[name] = (P - mu) / sd
    for line in skipped:
        log.warning("probe %s left out", line)
    if not rows:
        raise UserError(f"no usable probe for metadata {md} ({'; '.join(skipped)})")
    weights, ll, rounds = mixture_weights((X - mu) / sd, rows, h_min=h_min)
    names = sorted(weights)
    counts = largest_remainder(np.array([weights[n] for n in names]), int(total))
    entries = []
    for name, k in zip(names, counts):
        if k <= 0:
            continue
        mapping, _ = _config_mapping(probes[name].config, f"probe {name} config")
        entries.append(PlanEntry(mapping, name, int(k), [],
                                 (f"mixture weight {weights[name]:.3f} (ML mixture of probe densities over "
                                f"{X.shape[0]} real rows in {', '.join(md)}; mean log-likelihood {ll:.3f}, "
                                  f"{rounds} EM rounds; probe n={rows[name].shape[0]})")))
    plan = Plan(total=int(total), entries=entries, scores={n: [round(weights[n], 6)] for n in names},
                skipped=skipped, metadata=md)
    predict_plan(plan, fit, probes, real, seed)
    return plan


def _check_inputs(fit: Fit | str | os.PathLike, probes: dict, total: int) -> tuple[Fit, dict[str, Probe]]:
    """The fit (loaded when a path), the probes as `Probe`s ((config, table) pairs are accepted)."""
    if not isinstance(fit, Fit):
        fit = Fit.load(fit)
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise UserError(f"--total must be an integer >= 1, got {total!r}")
    if not probes:
        raise UserError("no probes given")
    return fit, {n: Probe(*p) for n, p in probes.items()}


def select_configs(fit: Fit | str | os.PathLike, probes: dict[str, Probe], total: int,
                   real: MetadataTable | None = None, seed: int = 0, method: str = "component",
                   params: Any = None) -> Plan:
    """The registered selector `method` (align.selectors.SELECTORS) with parameters (seed, real, params) -> Plan.
    `real` (the real MetadataTable) is used for predicted D_B; without it the real values stored in the fit are."""
    from align.selectors import SELECTORS
    extra = {} if params is None else {"params": params}         # only a selector with Params takes them
    return SELECTORS.get(method)(seed=seed, real=real, **extra).select(fit, probes, total)


class _Selector:
    """Parameters of every built-in selector: the seed of the plan's prediction, the real metadata table and
    the selector's own options (an instance of its `Params`, the defaults when None; core/params.py)."""

    def __init__(self, seed: int = 0, real: MetadataTable | None = None, params: Any = None):
        self.seed, self.real = seed, real
        own = getattr(type(self), "Params", None)
        self.params = params if params is not None or own is None else own()


class ComponentSelector(_Selector):
    """The thesis' selector: a config per GMM component, `total` split by the component weights (module
    docstring)."""
    description = "the thesis' selector: one probed config per GMM component of the real data"
    variant, plan_file = "aligned-component", "plan.yaml"

    def select(self, fit: Fit | str | os.PathLike, probes: dict[str, Probe], total: int) -> Plan:
        fit, probes = _check_inputs(fit, probes, total)
        stats, skipped = _usable_probes(fit, probes)
        sd_real = np.array(fit.real_std if len(fit.real_std) == len(fit.metadata) else
                           np.sqrt(np.diag(_mixture_cov(fit))), dtype=float)
        sd_real = np.where(sd_real > 0, sd_real, 1.0)
        scores: dict[str, list[float]] = {n: [] for n in stats}
        picks = [_pick(ci, c, stats, sd_real, fit.metadata, scores) for ci, c in enumerate(fit.components)]
        counts = largest_remainder(np.array([c["weight"] for c in fit.components]), int(total))
        plan = Plan(total=int(total), entries=_merge_picks(picks, counts, probes), scores=scores,
                    skipped=skipped, metadata=list(fit.metadata))
        predict_plan(plan, fit, probes, self.real, self.seed)
        return plan


@dataclass
class MixtureParams:
    bandwidth_min: float = field(default=0.1, metadata={"help": "the probe densities' least KDE bandwidth, in "
                                                                "standard deviations of the real rows (larger: "
                                                                "smoother densities, weights spread over more configs)"})

    def check(self) -> None:
        if not 0 < self.bandwidth_min <= 10:
            raise UserError(f"--mixture-bandwidth-min: between 0 (excluded) and 10, got {self.bandwidth_min}")


class MixtureSelector(_Selector):
    """synthgap's selector: every probed config's share by maximum likelihood (module docstring)."""
    description = "synthgap's selector: ML mixture weights of every probed config over the real rows"
    variant, plan_file = "aligned-mix", "plan-mix.yaml"
    Params = MixtureParams          # --mixture-bandwidth-min

    def select(self, fit: Fit | str | os.PathLike, probes: dict[str, Probe], total: int) -> Plan:
        fit, probes = _check_inputs(fit, probes, total)
        return _select_mixture(fit, probes, int(total), self.real, self.seed, self.params.bandwidth_min)


def _usable_probes(fit: Fit, probes: dict[str, Probe]) -> tuple[dict, list[str]]:
    stats, skipped = {}, []
    for name in sorted(probes):
        st = _probe_stats(probes[name].table, fit.metadata, fit.level)
        if isinstance(st, str):
            skipped.append(f"{name}: {st}")
            log.warning("probe %s left out: %s", name, st)
        else:
            stats[name] = st
    if not stats:
        raise UserError(f"no usable probe for metadata {fit.metadata} ({'; '.join(skipped)})")
    return stats, skipped


def _pick(ci: int, c: dict, stats: dict, sd_real: np.ndarray, md: list[str], scores: dict) -> tuple[str, str]:
    """The probe of lowest score against component `c` (ties by name) and the reason, as plan text."""
    mu_c = np.array(c["mean"], dtype=float)
    sd_c = np.sqrt(np.clip(np.diag(np.array(c["cov"], dtype=float)), 0, None))
    ranked = []
    for name, (mu_p, sd_p, n_p) in stats.items():
        s, dm, lr = score(mu_p, sd_p, mu_c, sd_c, sd_real)
        scores[name].append(round(s, 6))
        ranked.append((round(s / TIE_TOL) * TIE_TOL if math.isfinite(s) else math.inf, name, s, dm, lr, n_p))
    ranked.sort(key=lambda r: (r[0], r[1]))
    _, best, s, dm, lr, n_p = ranked[0]
    parts = ", ".join(f"{m}: Δmean {dm[i]:+.3f}σ, ln σ-ratio {lr[i]:+.3f}" for i, m in enumerate(md))
    runner = f"; next {ranked[1][1]} {ranked[1][2]:.4f}" if len(ranked) > 1 else ""
    why = (f"component {ci} (weight {c['weight']:.3f}, mean " +
           ", ".join(f"{m}={c['mean'][i]:.4g}" for i, m in enumerate(md)) +
           f"): score {s:.4f} ({parts}; probe n={n_p}){runner}")
    return best, why


def _merge_picks(picks: list[tuple[str, str]], counts: list[int], probes: dict[str, Probe]) -> list[PlanEntry]:
    """One entry per picked config; components that pick the same config share it."""
    entries: list[PlanEntry] = []
    by_name: dict[str, PlanEntry] = {}
    for ci, ((name, why), k) in enumerate(zip(picks, counts)):
        if name in by_name:
            e = by_name[name]
            e.count += k
            e.component.append(ci)
            e.why += " | " + why
            continue
        mapping, _ = _config_mapping(probes[name].config, f"probe {name} config")
        by_name[name] = PlanEntry(mapping, name, k, [ci], why)
        entries.append(by_name[name])
    return entries


def _mixture_cov(fit: Fit) -> np.ndarray:
    w, m, c = fit.weights(), fit.means(), fit.covs()
    mu = (w[:, None] * m).sum(axis=0)
    return (w[:, None, None] * (c + np.einsum("ki,kj->kij", m, m))).sum(axis=0) - np.outer(mu, mu)
