"""The one summary of repeated measurements and the one rounding rule of every report.

- `mean_sd(values)`: mean and *sample* standard deviation (n - 1; 0.0 for one value; (None, None) for none);
  None entries are ignored. Every report's "m ± sd (n=k)" comes from here.
- `fmt_num(x, nd)`: x with `nd` decimals; None / NaN / inf -> "n/a".
- `spearman_perm(x, y)`: Spearman's rho with its permutation p-value (scipy.stats.permutation_test);
  `percentile_ci(values)`: a bootstrap sample's percentile interval.
"""
from __future__ import annotations

import math
from typing import Iterable


def mean_sd(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, sd


def fmt_num(x: float | None, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{nd}f}"


def fmt_mean_sd(m: float | None, sd: float | None, n: int, nd: int = 3) -> str:
    """"m ± sd (n=k)"; "n/a" without a mean."""
    return "n/a" if m is None else f"{fmt_num(m, nd)} ± {fmt_num(sd, nd)} (n={n})"


def spearman_perm(x: list[float], y: list[float], n_perm: int = 20000, seed: int = 0) -> dict:
    """Spearman's rho of x and y with a two-sided permutation p-value: the share of permutations of y whose
    |rho| is >= the observed |rho| (all n! permutations when n <= 8, else `n_perm` random ones, the observed
    one counted). -> {"rho", "p", "n", "exact"}; rho None (p None) when n < 3 or x or y is constant.
    The test is scipy.stats.permutation_test (`pairings`, statistic |rho|, alternative "greater", `rng=seed`);
    its p-values equal the hand-written test's it replaced, the random ones (n > 8) too: with the pinned scipy
    1.17.1 it draws the same permutations from `default_rng(seed)`."""
    import math

    import numpy as np
    from scipy.stats import permutation_test, rankdata
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p": None, "n": n, "exact": False}
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean()), (ry - ry.mean()) / np.linalg.norm(ry - ry.mean())
    rho = float(rx @ ry)
    exact = n <= 8

    def abs_rho(ranks, axis=-1):
        return np.abs(np.moveaxis(ranks, axis, -1) @ rx)
    res = permutation_test((ry,), abs_rho, permutation_type="pairings", vectorized=True, alternative="greater",
                           n_resamples=math.factorial(n) if exact else n_perm, rng=seed)
    return {"rho": rho, "p": float(res.pvalue), "n": n, "exact": exact}


def percentile_ci(values, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of a bootstrap sample (percentile method)."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))
