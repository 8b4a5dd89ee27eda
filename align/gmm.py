"""Gaussian mixture fit of the real metadata with K chosen by silhouette (fit.json, docs/design.md §5).

Procedure for a sample X (n rows x d metadata; rows with a NaN in any chosen metadata are dropped):
1. standardize each column (z-scores; a constant column keeps scale 1) so that metadata of different units
   weigh alike in the silhouette and the mixture;
2. for K = 2 .. min(kmax, n-1): fit a full-covariance GaussianMixture (scikit-learn, `random_state=seed`,
   `n_init=2`, reg_covar 1e-4 in z units), label each row by its most likely component, and score the
   labelling with the silhouette (Euclidean, z units). K where fewer than 2 labels are used has no silhouette;
3. the silhouette of a *single* Gaussian is not defined, and a split of a unimodal sample still scores ~0.5
   (in 1-D), so each K is also scored on a null sample: n rows drawn from one Gaussian with the data's mean and
   covariance (seeded), fitted the same way for every K. K is the K >= 2 of highest silhouette among those whose
   silhouette beats the null's best silhouette (max over K) by at least `margin` (0.1); when none does, or no silhouette can be computed (n < 3,
   fewer than 2 distinct rows, one label used), K = 1 and `k_reason` says why (also logged).
4. the chosen mixture is refitted on the z-scores and mapped back to the metadata's units
   (mean = m + s·μ_z, cov = diag(s)·Σ_z·diag(s)); components are sorted by their first mean.

Modes: "joint" fits one mixture over all chosen metadata together. "1d" (the thesis' way) fits one mixture per
metadata (stored under `fits`) and *also* the joint mixture (top-level `k`, `components`), which is what the
config selector matches probes against (align/select.py explains why).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError

from core.io import atomic_write_json, read_json

log = logging.getLogger("align")

FIT_METADATA = ["area_frac", "cy"]       # what a fit aligns on by default (default_metadata adds depth)
SILHOUETTE_MARGIN = 0.1
REG_COVAR = 1e-4


@dataclass
class Fit:
    metadata: list[str]
    mode: str
    k: int
    silhouette: dict[str, float | None]
    components: list[dict]                    # [{"weight", "mean": [d], "cov": [[d x d]]}] in metadata units
    n_real: int
    silhouette_null: dict[str, float | None] = field(default_factory=dict)
    k_reason: str = ""
    fits: dict[str, dict] = field(default_factory=dict)   # mode "1d": per metadata {k, silhouette, ...}
    level: str = "bbox"
    kmax: int = 5
    seed: int = 0
    real_mean: list[float] = field(default_factory=list)
    real_std: list[float] = field(default_factory=list)
    data: dict[str, list[float]] = field(default_factory=dict)   # the real values used (for predicted D_B)
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"metadata": self.metadata, "mode": self.mode, "level": self.level, "k": self.k,
             "silhouette": self.silhouette, "silhouette_null": self.silhouette_null, "k_reason": self.k_reason,
             "components": self.components, "n_real": self.n_real, "kmax": self.kmax, "seed": self.seed,
             "real_mean": self.real_mean, "real_std": self.real_std}
        if self.mode == "1d":
            d["fits"] = self.fits
        d["source"] = self.source
        d["data"] = self.data
        return d

    def to_json(self, path: str | os.PathLike) -> Path:
        atomic_write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def from_dict(cls, d: dict, source: str = "<fit>") -> "Fit":
        if not isinstance(d, dict):
            raise UserError(f"{source}: not a fit (top level must be an object)")
        for key in ("metadata", "mode", "k", "components", "n_real"):
            if key not in d:
                raise UserError(f"{source}: key {key!r}: missing (not a fit.json from `synthgap align fit`?)")
        comps = d["components"]
        dim = len(d["metadata"])
        if not isinstance(comps, list) or len(comps) != d["k"]:
            raise UserError(f"{source}: key 'components': must list k={d['k']} components")
        for i, c in enumerate(comps):
            if not isinstance(c, dict) or len(c.get("mean", [])) != dim or len(c.get("cov", [])) != dim:
                raise UserError(f"{source}: key 'components[{i}]': needs weight, mean[{dim}], cov[{dim}x{dim}]")
        return cls(metadata=list(d["metadata"]), mode=d["mode"], k=int(d["k"]), silhouette=d.get("silhouette", {}),
                   components=comps, n_real=int(d["n_real"]), silhouette_null=d.get("silhouette_null", {}),
                   k_reason=d.get("k_reason", ""), fits=d.get("fits", {}), level=d.get("level", "bbox"),
                   kmax=int(d.get("kmax", 5)), seed=int(d.get("seed", 0)), real_mean=d.get("real_mean", []),
                   real_std=d.get("real_std", []), data=d.get("data", {}), source=d.get("source", {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fit":
        return cls.from_dict(read_json(path, "fit"), str(path))

    def weights(self) -> np.ndarray:
        return np.array([c["weight"] for c in self.components], dtype=float)

    def means(self) -> np.ndarray:
        return np.array([c["mean"] for c in self.components], dtype=float)

    def covs(self) -> np.ndarray:
        return np.array([c["cov"] for c in self.components], dtype=float)


# ------------------------------------------------------------------------------------------------ fitting
def _gmm(Z: np.ndarray, k: int, seed: int):
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return GaussianMixture(n_components=k, covariance_type="full", random_state=seed, n_init=2,
                               reg_covar=REG_COVAR).fit(Z)


def _silhouette(Z: np.ndarray, k: int, seed: int) -> tuple[float | None, Any]:
    from sklearn.metrics import silhouette_score

    g = _gmm(Z, k, seed)
    labels = g.predict(Z)
    if len(np.unique(labels)) < 2:
        return None, g
    return float(silhouette_score(Z, labels)), g


def fit_mixture(X: np.ndarray, kmax: int = 5, seed: int = 0, margin: float = SILHOUETTE_MARGIN) -> dict:
    """One mixture over the rows of X (n x d) by the module's procedure ->
    {"k", "silhouette", "silhouette_null", "k_reason", "components", "n", "mean", "std"}."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n, d = X.shape
    mu = X.mean(axis=0) if n else np.zeros(d)
    sd = X.std(axis=0) if n else np.ones(d)
    scale = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / scale
    sil: dict[str, float | None] = {"1": None}
    null: dict[str, float | None] = {"1": None}
    reason = ""
    best_k, best_s = 1, -np.inf
    distinct = len(np.unique(np.round(Z, 12), axis=0)) if n else 0
    if n < 3:
        reason = f"K=1: silhouette needs at least 3 rows (have {n})"
    elif distinct < 2:
        reason = "K=1: all rows are equal, silhouette undefined"
    else:
        cov_z = np.atleast_2d(np.cov(Z, rowvar=False, bias=True))
        Zn = np.random.default_rng(seed + 7919).multivariate_normal(np.zeros(d), cov_z, size=n)
        ks = list(range(2, max(2, min(int(kmax), n - 1)) + 1)) if kmax >= 2 else []
        for k in ks:
            sil[str(k)], _ = _silhouette(Z, k, seed)
            null[str(k)], _ = _silhouette(Zn, k, seed)
        null_best = max([v for v in null.values() if v is not None], default=0.0)
        for k in ks:
            s = sil[str(k)]
            if s is not None and s - null_best >= margin and s > best_s:
                best_k, best_s = k, s
        scored = {k: v for k, v in sil.items() if v is not None}
        if best_k > 1:
            reason = (f"K={best_k}: silhouette {best_s:.3f}, a single Gaussian reaches at most {null_best:.3f}")
        elif not ks:
            reason = f"K=1: kmax={kmax}"
        elif not scored:
            reason = "K=1: silhouette undefined for every K >= 2 (the mixture used a single label)"
        else:
            kb = max(scored, key=lambda k: scored[k])
            reason = (f"K=1: best silhouette {scored[kb]:.3f} (K={kb}) does not beat a single Gaussian's best "
                      f"({null_best:.3f}) by {margin}")
    if reason.startswith("K=1"):
        log.info("%s", reason)
    comps = []
    if n == 0:
        raise UserError("no rows to fit (every row has a NaN in a chosen metadata)")
    if best_k == 1:
        cov = np.atleast_2d(np.cov(X, rowvar=False, bias=True)) if n > 1 else np.zeros((d, d))
        comps = [{"weight": 1.0, "mean": mu.tolist(), "cov": cov.tolist()}]
    else:
        g = _gmm(Z, best_k, seed)
        for w, m, c in zip(g.weights_, g.means_, g.covariances_):
            comps.append({"weight": float(w), "mean": (mu + scale * m).tolist(),
                          "cov": (np.outer(scale, scale) * c).tolist()})
        comps.sort(key=lambda c: tuple(c["mean"]))
    return {"k": best_k, "silhouette": sil, "silhouette_null": null, "k_reason": reason, "components": comps,
            "n": int(n), "mean": mu.tolist(), "std": sd.tolist()}


def default_metadata(table) -> list[str]:
    """area_frac, cy, plus depth when the table has a finite depth."""
    out = list(FIT_METADATA)
    if hasattr(table, "has") and table.has("depth", "bbox"):
        out.append("depth")
    return out


def _columns(table_or_values, metadata: list[str] | None, level: str) -> tuple[list[str], dict[str, np.ndarray]]:
    if hasattr(table_or_values, "values") and hasattr(table_or_values, "has"):
        t = table_or_values
        metadata = list(metadata) if metadata else default_metadata(t)
        cols = {}
        for m in metadata:
            v = t.values(m, level)
            if not np.isfinite(v).any():
                raise UserError(f"metadata {m!r} has no finite value in table {t.dataset!r} at level {level} "
                                "(e.g. depth needs a render sidecar)")
            cols[m] = v
        return metadata, cols
    if isinstance(table_or_values, dict):
        metadata = list(metadata) if metadata else list(table_or_values)
        missing = [m for m in metadata if m not in table_or_values]
        if missing:
            raise UserError(f"metadata {missing} not in the values given (have {list(table_or_values)})")
        return metadata, {m: np.asarray(table_or_values[m], dtype=float).ravel() for m in metadata}
    a = np.asarray(table_or_values, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    metadata = list(metadata) if metadata else [f"x{i}" for i in range(a.shape[1])]
    if len(metadata) != a.shape[1]:
        raise UserError(f"{len(metadata)} metadata names for {a.shape[1]} columns")
    return metadata, {m: a[:, i] for i, m in enumerate(metadata)}


def fit_gmm(table_or_values, metadata: list[str] | None = None, mode: str = "1d", kmax: int = 5, seed: int = 0,
            level: str = "bbox", margin: float = SILHOUETTE_MARGIN, source: dict | None = None) -> Fit:
    """Fit the real metadata (a MetadataTable, {name: values}, or an array n x d) -> Fit (module docstring).

    Default metadata for a table: area_frac, cy, plus depth when the table has a finite depth."""
    if mode not in ("1d", "joint"):
        raise UserError(f"mode must be '1d' or 'joint', got {mode!r}")
    if int(kmax) < 1:
        raise UserError(f"kmax must be >= 1, got {kmax}")
    metadata, cols = _columns(table_or_values, metadata, level)
    X = np.stack([cols[m] for m in metadata], axis=1)
    keep = np.isfinite(X).all(axis=1)
    X = X[keep]
    if X.shape[0] == 0:
        raise UserError(f"no row has finite values of all of {metadata}")
    joint = fit_mixture(X, kmax, seed, margin)
    fits = {}
    if mode == "1d":
        for m in metadata:
            v = cols[m][np.isfinite(cols[m])]
            f = fit_mixture(v, kmax, seed, margin)
            fits[m] = {k: f[k] for k in ("k", "silhouette", "silhouette_null", "k_reason", "components", "n")}
    data = {m: [round(float(x), 8) for x in X[:, i]] for i, m in enumerate(metadata)}
    return Fit(metadata=metadata, mode=mode, k=joint["k"], silhouette=joint["silhouette"],
               components=joint["components"], n_real=joint["n"], silhouette_null=joint["silhouette_null"],
               k_reason=joint["k_reason"], fits=fits, level=level, kmax=int(kmax), seed=int(seed),
               real_mean=joint["mean"], real_std=joint["std"], data=data, source=dict(source or {}))
