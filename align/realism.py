"""Realism distance: how far a set's images are from the real photos, as whole images (align/features.py).

KID (kernel inception distance, Binkowski et al. 2018, on our MobileNetV2 features): the unbiased estimate of
MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 between the two sets' features. 0 = the same
distribution; it can come out slightly below 0 by chance. Its standard error is the sd of the estimate over
`B` bootstrap draws that resample both sets' images (default 200, seed 0). KID is unbiased at any sample size,
so it is the figure to read with a few dozen real photos.

FID (Frechet distance between Gaussians fitted to the features) is reported beside it for familiarity; with
fewer images than feature dimensions (1280) its covariance is singular and it is strongly biased upwards at
small n: compare FIDs only between sets of equal size against the same real images.
"""
from __future__ import annotations

import numpy as np


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two feature sets (n >= 2 and m >= 2 rows) with the cubic polynomial kernel."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {n} and {m}")
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def kid(real: np.ndarray, synth: np.ndarray, B: int = 200, seed: int = 0) -> dict:
    """-> {"kid", "se", "B", "n_real", "n_synth"}: KID and its bootstrap standard error (module docstring)."""
    real, synth = np.asarray(real, np.float64), np.asarray(synth, np.float64)
    value = mmd2_unbiased(real, synth)
    rng = np.random.default_rng(seed)
    kr, ks, kx = _kernel(real, real), _kernel(synth, synth), _kernel(real, synth)
    boots = []
    for _ in range(B):
        i, j = rng.integers(0, len(real), len(real)), rng.integers(0, len(synth), len(synth))
        a, b, c = kr[np.ix_(i, i)], ks[np.ix_(j, j)], kx[np.ix_(i, j)]
        # a resampled image paired with its own copy is a diagonal term: leave out pairs of the same draw
        same_a, same_b = i[:, None] == i[None, :], j[:, None] == j[None, :]
        boots.append(a[~same_a].sum() / max(1, (~same_a).sum()) + b[~same_b].sum() / max(1, (~same_b).sum())
                     - 2.0 * c.mean())
    return {"kid": value, "se": float(np.std(boots, ddof=1)) if B > 1 else None, "B": B,
            "n_real": len(real), "n_synth": len(synth)}


def fid(real: np.ndarray, synth: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the two feature sets (module docstring's caveat)."""
    import warnings

    from scipy import linalg
    real, synth = np.asarray(real, np.float64), np.asarray(synth, np.float64)
    mu1, mu2 = real.mean(0), synth.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(synth, rowvar=False)
    with warnings.catch_warnings():   # singular covariances are expected below 1280 images (docstring)
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            eps = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(np.real(covmean)))
