"""The one summary of repeated measurements and the one rounding rule of every report.

- `mean_sd(values)`: mean and *sample* standard deviation (n - 1; 0.0 for one value; (None, None) for none);
  None entries are ignored. Every report's "m ± sd (n=k)" comes from here.
- `fmt_num(x, nd)`: x with `nd` decimals; None / NaN / inf -> "n/a".
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
