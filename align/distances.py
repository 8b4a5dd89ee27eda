"""Distances between two samples of one metadata (real vs synthetic).

Bhattacharyya distance on shared bins:
- NaNs are dropped from both samples.
- Bins: Freedman–Diaconis over the *pooled* sample (both sides together, so the bins do not depend on which
  side is called `a`): width h = 2·IQR·n^(-1/3) (n = pooled size), bins = ceil((max - min) / h), clamped to
  [1, MAX_BINS]; when the IQR is 0 (more than half the values tied) Sturges' rule ceil(log2 n) + 1 is used;
  when all pooled values are equal there is one bin. The bin count is returned (`n_bins`).
- Smoothing: each bin that holds a value of either sample gets a pseudo-count of ALPHA = 0.5 on each side
  (Jeffreys / add-½): p_i = (c_i + ½) / (n_a + ½·B'), q_i likewise, B' = the bins occupied by the pooled
  sample (bins empty on both sides stay out, so they cannot inflate BC). No occupied bin is empty on one side,
  so D_B stays finite for disjoint samples (it is then about ln(n)/2 - ln(√2): it grows with the sample sizes,
  like the evidence that they differ). Histograms of the same shape (proportional counts, e.g. identical
  samples) give BC = 1 and D_B = 0 exactly.
- BC = Σ sqrt(p_i q_i) (Bhattacharyya coefficient, 1 = same histogram), D_B = -ln BC (≥ 0, symmetric).
- `db`/`bc`/`w1` are None only when a side has no finite value (`reason` says which).

Wasserstein-1 (earth mover's distance between the two empirical distributions, in the metadata's units,
scipy.stats.wasserstein_distance) is reported as a second opinion that needs no binning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MAX_BINS = 100
ALPHA = 0.5


@dataclass
class DistanceResult:
    db: float | None
    bc: float | None
    n_bins: int
    w1: float | None
    n_a: int = 0
    n_b: int = 0
    mean_a: float | None = None
    mean_b: float | None = None
    reason: str | None = None
    edges: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"db": self.db, "bc": self.bc, "n_bins": self.n_bins, "w1": self.w1, "n_a": self.n_a,
                "n_b": self.n_b, "mean_a": self.mean_a, "mean_b": self.mean_b, "reason": self.reason}


def _finite(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def shared_bins(pooled: np.ndarray, max_bins: int = MAX_BINS) -> np.ndarray:
    """Bin edges over the pooled sample (Freedman–Diaconis, Sturges when IQR = 0; module docstring)."""
    lo, hi = float(pooled.min()), float(pooled.max())
    n = pooled.size
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):   # one value (up to rounding): one bin
        return np.array([lo - 0.5, hi + 0.5])
    q75, q25 = np.percentile(pooled, [75, 25])
    iqr = float(q75 - q25)
    if iqr > 0:
        h = 2.0 * iqr * n ** (-1.0 / 3.0)
        k = int(math.ceil((hi - lo) / h))
    else:
        k = int(math.ceil(math.log2(n))) + 1
    k = max(1, min(max_bins, k))
    return np.linspace(lo, hi, k + 1)


def bhattacharyya(a, b, max_bins: int = MAX_BINS, alpha: float = ALPHA) -> DistanceResult:
    """D_B, BC, bin count and W1 of two 1-D samples (module docstring for binning and smoothing)."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        side = " and ".join(s for s, x in (("first", a), ("second", b)) if x.size == 0)
        return DistanceResult(None, None, 0, None, int(a.size), int(b.size),
                              float(a.mean()) if a.size else None, float(b.mean()) if b.size else None,
                              reason=f"no finite values in the {side} sample")
    from scipy.stats import wasserstein_distance

    edges = shared_bins(np.concatenate([a, b]), max_bins)
    k = len(edges) - 1
    ca, _ = np.histogram(a, bins=edges)
    cb, _ = np.histogram(b, bins=edges)
    occ = (ca + cb) > 0                      # smoothing only where at least one sample has values
    ko = int(occ.sum())
    p = (ca[occ] + alpha) / (a.size + alpha * ko)
    q = (cb[occ] + alpha) / (b.size + alpha * ko)
    if np.array_equal(ca * b.size, cb * a.size):   # same histogram shape: exactly 0, no rounding noise
        bc = 1.0
    else:
        bc = float(min(1.0, np.sqrt(p * q).sum()))
    db = float(-math.log(bc)) if bc > 0 else float("inf")
    return DistanceResult(db + 0.0, bc, k, float(wasserstein_distance(a, b)), int(a.size), int(b.size),
                          float(a.mean()), float(b.mean()), edges=edges.tolist())


def compare_tables(real, synth, metadata: list[str], level: str = "bbox") -> dict[str, DistanceResult]:
    """{metadata: DistanceResult} of two MetadataTables. A metadata absent (no finite value) from either table
    gives db None with the reason, not an error."""
    out = {}
    for m in metadata:
        missing = [t.dataset or side for t, side in ((real, "real"), (synth, "synthetic")) if not t.has(m, level)]
        if missing:
            out[m] = DistanceResult(None, None, 0, None, reason=f"{m} has no value in {', '.join(missing)}")
            continue
        out[m] = bhattacharyya(real.values(m, level), synth.values(m, level))
    return out


def class_rows(table, name: str):
    """The table's box rows of one class (its `category` column)."""
    cat = np.asarray(table.data.get("category", np.array([None] * len(table))), dtype=object)
    level = np.asarray(table.data.get("level", np.array(["bbox"] * len(table))), dtype=object)
    return table.subset((cat == name) & (level == "bbox"))


def finite_mean(values) -> float | None:
    """The mean of the finite values (None and NaN/inf left out; None when none is left): the one rule by which
    D_B values are averaged, over metadata (a set's mean D_B) and over classes."""
    fin = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(fin) / len(fin) if fin else None


def compare_by_class(real, synth, metadata: list[str], classes: list[str]) -> dict[str, float | None]:
    """Several classes: each metadata's D_B the mean over the classes of D_B(the set's boxes of c, the real boxes
    of c), equal weights (as COCO averages AP over classes; synthgap/classes.py states the rule); a class with
    no finite D_B on a metadata is left out of that mean."""
    per = [compare_tables(class_rows(real, c), class_rows(synth, c), metadata) for c in classes]
    return {m: finite_mean(r[m].db for r in per) for m in metadata}


def half_split_floor(values: dict, groups=None, splits: int = 20, seed: int = 0) -> dict:
    """The real-vs-real floor of D_B: per metadata, the mean D_B between two random halves of one sample
    (`values`: {metadata: 1-D values}), over `splits` seeded draws; with `groups` (one label per value, e.g. the
    image id) whole groups go to one half, so boxes of one photo stay together. How far apart two halves of the
    same photos already are: a set is not expected to get much closer to them than this (halves are smaller
    samples than a set against all the photos, so the floor errs high). -> {metadata: mean D_B or None}."""
    rng = np.random.default_rng(seed)
    out = {}
    for m, vals in values.items():
        v = np.asarray(vals, dtype=float).ravel()
        g = np.arange(v.size) if groups is None else np.asarray(groups).ravel()
        labels = np.unique(g)
        dbs = []
        for _ in range(splits if labels.size >= 2 else 0):
            first = np.isin(g, rng.permutation(labels)[: labels.size // 2])
            r = bhattacharyya(v[first], v[~first])
            if r.db is not None and math.isfinite(r.db):
                dbs.append(r.db)
        out[m] = float(np.mean(dbs)) if dbs else None
    return out
