"""Ranking synthetic sets without training them: which distances to the real exposed images follow the mAP
that detectors trained on the sets reach, and a training-free quality score built from them (thesis §5.5's
open question; the zoo of `synthgap zoo` supplies the sets).

Input everywhere is a *zoo table*: set name -> {"distances": {metric: value}, "map": mean test mAP50-95 over
seeds}. Metrics are distances (lower = closer to the real exposed images): `db:<metadata>` (Bhattacharyya
distance), `w1:<metadata>`, and the registered realism metrics (align/realism_metrics.py: `kid`, `fid`,
`1-precision` / `1-recall` (KNN precision / recall turned into distances), and any a user registers). A metric
missing (None / NaN) for a set is left out of that set's statistics.

- `rank_metrics(table)`: per metric, Spearman's rho of its value with mAP over the sets, a two-sided
  permutation p-value (core.stats.spearman_perm) and a 95 % percentile bootstrap interval of rho over sets
  (sets drawn with replacement, B draws; draws with a constant side are skipped), and the Benjamini-Hochberg
  q-value over all the metrics tested (many metrics, few sets: a raw p < 0.05 happens by chance). Sorted by rho,
  the most negative (the distance that best predicts a *low* mAP) first. A metric "matters" when rho < 0 and
  q < `FDR` (0.10).
- The quality score (lower = predicted better), stated: each metric is standardized by the mean and sample
  sd over the sets the weights are fitted on; its weight is max(0, -rho) of that metric on those sets, rho
  computed only on sets where it is defined, weights normalized to sum 1 (all zero -> KID alone when present,
  else equal weights). score(set) = sum_m w_m z_m(set) over the metrics the set has, renormalized over them.
  `fit_weights(table)` fits on every set of `table`; `score_set(weights, distances)` scores any set.
- `held_out_scores(table)`: each set's score from weights fitted on the *other* sets only (leave one set out;
  the held-out set's distances and mAP never reach `fit_weights`), and `evaluate(table)` = Spearman of those
  held-out scores with mAP (p, interval), beside each single metric's and KID's. `transfer(weights, table)`
  scores another target's zoo with weights fitted on this one (the cross-target check).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

FDR = 0.10


def _ok(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def metrics_of(table: dict) -> list[str]:
    """Every metric some set of the table has, sorted."""
    return sorted({m for row in table.values() for m, x in row["distances"].items() if _ok(x)})


def _pairs(table: dict, metric: str) -> tuple[list[float], list[float]]:
    rows = [r for r in table.values() if _ok(r["distances"].get(metric)) and _ok(r.get("map"))]
    return [r["distances"][metric] for r in rows], [r["map"] for r in rows]


def _boot_rho(x: list[float], y: list[float], B: int, seed: int) -> list[float] | None:
    """95 % percentile interval of Spearman's rho over sets drawn with replacement."""
    import numpy as np
    from scipy.stats import spearmanr

    from core.stats import percentile_ci
    rng, x, y, rhos = np.random.default_rng(seed), np.asarray(x), np.asarray(y), []
    for _ in range(B):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
            rhos.append(float(spearmanr(x[i], y[i])[0]))
    return list(percentile_ci(rhos)) if len(rhos) >= B // 2 else None


def bh_qvalues(ps: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg q-values of the p-values given (None stays None and is not counted):
    scipy.stats.false_discovery_control(method="bh")."""
    from scipy.stats import false_discovery_control
    idx = [i for i, p in enumerate(ps) if p is not None]
    q: list[float | None] = [None] * len(ps)
    if idx:
        for i, qv in zip(idx, false_discovery_control([ps[i] for i in idx], method="bh")):
            q[i] = float(qv)
    return q


def rank_metrics(table: dict, B: int = 1000, seed: int = 0, n_perm: int = 20000) -> list[dict]:
    """-> [{"metric", "rho", "p", "q", "ci", "n", "matters"}], most negative rho first (None rho last)."""
    from core.stats import spearman_perm
    out = []
    for m in metrics_of(table):
        x, y = _pairs(table, m)
        sp = spearman_perm(x, y, n_perm=n_perm, seed=seed)
        ci = _boot_rho(x, y, B, seed) if sp["rho"] is not None else None
        out.append({"metric": m, "rho": sp["rho"], "p": sp["p"], "ci": ci, "n": sp["n"]})
    for r, qv in zip(out, bh_qvalues([r["p"] for r in out])):
        r["q"], r["matters"] = qv, r["rho"] is not None and r["rho"] < 0 and qv is not None and qv < FDR
    return sorted(out, key=lambda r: (r["rho"] is None, r["rho"] if r["rho"] is not None else 0.0))


@dataclass
class Weights:
    """The fitted score: per metric its weight and the standardization of the sets it was fitted on."""
    w: dict[str, float]
    mean: dict[str, float]
    sd: dict[str, float]
    fitted_on: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"w": self.w, "mean": self.mean, "sd": self.sd, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> "Weights":
        return cls(dict(d["w"]), dict(d["mean"]), dict(d["sd"]), list(d.get("fitted_on", [])))


def fit_weights(table: dict, metrics: list[str] | None = None) -> Weights:
    """Weights max(0, -rho) per metric over the sets of `table` (module docstring), with their mean / sd."""
    from scipy.stats import spearmanr

    from core.stats import mean_sd
    metrics = metrics or metrics_of(table)
    w, mean, sd = {}, {}, {}
    for m in metrics:
        x, y = _pairs(table, m)
        mu, s = mean_sd(x)
        if mu is None or not s:
            continue
        rho = float(spearmanr(x, y)[0]) if len(x) >= 3 and len(set(y)) > 1 else float("nan")
        mean[m], sd[m], w[m] = mu, s, max(0.0, -rho) if math.isfinite(rho) else 0.0
    total = sum(w.values())
    if total > 0:
        w = {m: v / total for m, v in w.items() if v > 0}
    elif "kid" in w:
        w = {"kid": 1.0}
    else:
        w = {m: 1.0 / len(w) for m in w} if w else {}
    return Weights(w, {m: mean[m] for m in w}, {m: sd[m] for m in w}, sorted(table))


def score_set(weights: Weights, distances: dict) -> float | None:
    """sum_m w_m z_m over the weighted metrics the set has (renormalized); None when it has none."""
    have = {m: v for m, v in weights.w.items() if _ok(distances.get(m))}
    tot = sum(have.values())
    if not have or tot <= 0:
        return None
    return sum(v * (distances[m] - weights.mean[m]) / weights.sd[m] for m, v in have.items()) / tot


def held_out_scores(table: dict, metrics: list[str] | None = None, fit=fit_weights) -> dict[str, float | None]:
    """Each set scored by weights fitted without it (leave one set out)."""
    return {s: score_set(fit({k: v for k, v in table.items() if k != s}, metrics), table[s]["distances"])
            for s in table}


def _spearman_entry(name: str, x: list[float], y: list[float], B: int, seed: int) -> dict:
    from core.stats import spearman_perm
    sp = spearman_perm(x, y, seed=seed)
    ci = _boot_rho(x, y, B, seed) if sp["rho"] is not None else None
    return {"name": name, "rho": sp["rho"], "p": sp["p"], "ci": ci, "n": sp["n"]}


def evaluate(table: dict, B: int = 1000, seed: int = 0) -> dict:
    """-> {"held_out": Spearman of the held-out score with mAP, "scores": {set: held-out score},
    "kid": KID alone's Spearman (or None), "weights": the weights fitted on every set}."""
    scores = held_out_scores(table)
    keys = [s for s in table if scores[s] is not None and _ok(table[s].get("map"))]
    out = {"scores": scores, "weights": fit_weights(table).to_dict(),
           "held_out": _spearman_entry("score (held out)", [scores[s] for s in keys],
                                       [table[s]["map"] for s in keys], B, seed)}
    x, y = _pairs(table, "kid")
    out["kid"] = _spearman_entry("kid", x, y, B, seed) if len(x) >= 3 else None
    return out


def transfer(weights: Weights, table: dict, B: int = 1000, seed: int = 0) -> dict:
    """Another target's zoo scored with `weights` (fitted on a different target): Spearman with its mAP."""
    scores = {s: score_set(weights, r["distances"]) for s, r in table.items()}
    keys = [s for s in table if scores[s] is not None and _ok(table[s].get("map"))]
    return {"scores": scores, **_spearman_entry("score (other target's weights)", [scores[s] for s in keys],
                                                [table[s]["map"] for s in keys], B, seed)}


def predicted_ranks(weights: Weights, sets: dict[str, dict]) -> list[tuple[str, float | None, int | None]]:
    """[(set, score, predicted rank 1 = best)] for sets {name: distances}, best first; unscored sets last."""
    scored = sorted(((s, score_set(weights, d)) for s, d in sets.items()),
                    key=lambda t: (t[1] is None, t[1] if t[1] is not None else 0.0))
    return [(s, sc, i + 1 if sc is not None else None) for i, (s, sc) in enumerate(scored)]


ZOO_JSON = "zoo.json"


def distance_row(results: dict, realism: dict | None) -> dict[str, float | None]:
    """A set's metrics from align.distances.compare_tables results (db:/w1: per metadata) and
    align.realism_metrics.realism's record (its "metrics": every registered realism metric; an older record's
    kid, fid, 1-precision, 1-recall); non-finite values become None."""
    def fin(x):
        return float(x) if _ok(x) else None
    out: dict[str, float | None] = {}
    for m, r in results.items():
        out[f"db:{m}"], out[f"w1:{m}"] = fin(r.db), fin(r.w1)
    if realism and "metrics" in realism:        # every registered realism metric (align/realism_metrics.py)
        out.update({m: fin(v) for m, v in realism["metrics"].items()})
    elif realism:                               # a record of before the registry: its four metrics
        out.update(kid=fin(realism.get("kid")), fid=fin(realism.get("fid")))
        for k in ("precision", "recall"):
            out[f"1-{k}"] = None if not _ok(realism.get(k)) else 1.0 - realism[k]
    return out


def load_zoo(path) -> dict:
    """A finished zoo's zoo.json (`path`: the file or its folder); a one-line error when it is not one."""
    from pathlib import Path

    from core.errors import UserError
    from core.io import read_json
    p = Path(path)
    p = p / ZOO_JSON if p.is_dir() else p
    if not p.is_file():
        raise UserError(f"{p}: --zoo: no zoo.json here (run `synthgap zoo` first)")
    z = read_json(p, "zoo")
    for k in ("ranking", "score", "sets"):
        if not isinstance(z, dict) or k not in z:
            raise UserError(f"{p}: key '{k}': missing; not a zoo.json of `synthgap zoo`")
    return z


def zoo_weights(zoo: dict) -> Weights:
    """The weights a zoo fitted on all its sets (what `--zoo` scores new sets with)."""
    return Weights.from_dict(zoo["score"]["weights"])


def auto_metadata(zoo: dict, where: str, allowed) -> list[str]:
    """The metadata whose D_B the zoo ranked as mattering (rho < 0, q < FDR), most negative first."""
    from core.errors import UserError
    picked = [r["metric"][3:] for r in zoo["ranking"] if r["metric"].startswith("db:") and r.get("matters")
              and r["metric"][3:] in allowed]
    if not picked:
        raise UserError(f"{where}: key 'ranking': no metadata's D_B ranks the zoo's sets by mAP (rho < 0 with "
                        f"q < {FDR}); name the metadata with --metadata instead of auto")
    return picked
