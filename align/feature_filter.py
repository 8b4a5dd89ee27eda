"""Feature filtering (thesis §5.4.4): drop the synthetic images that look least like the real ones.

Scores, per synthetic image, on the image features of align/features.py (ImageNet MobileNetV2, 1280 values):
- `knn`: the mean Euclidean distance to its K nearest real images (K = min(5, n_real)); higher = further from
  every real photo;
- `kde`: minus the log-likelihood under a Gaussian kernel density of the real images, after projecting both
  sides on the first PCA_DIMS principal axes of the real features (a density in 1280 dimensions from a few dozen
  photos would be meaningless), bandwidth by Scott's rule per axis; higher = less likely.
Both are "outlier scores": the worst image scores highest. The neighbours, the principal axes, the density and
the distances are scikit-learn's (NearestNeighbors, PCA, KernelDensity, pairwise_distances); the scores equal
the numpy code they replaced to rounding (1e-13 relative).

The cut, by the elbow of the sorted scores (Kneedle, Satopaa et al. 2011, as PyPI `kneed` implements it): sort
the scores ascending, scale rank and score to [0, 1]; the knees are the points Kneedle finds on this convex,
increasing curve (`KneeLocator(curve="convex", direction="increasing", S=1, online=True).all_knees`: local maxima
of the distance *below* the straight line from the first to the last point after which that distance falls by
S / (n - 1)); of those the one furthest below the line is the knee (where the scores start to climb steeply), and
every image scoring above the knee's score is dropped. Where no knee lies below the line by ELBOW_MIN of the
scaled range or more (a straight line, a curve that bends the other way) nothing is dropped. At most MAX_DROP of
the images are dropped. (Before `kneed` the knee was the point furthest below the line whether or not Kneedle's
drop test held there; the two agree on a curve with one clear knee, and may pick another bend of a noisy one.)

Object level (`blackout_objects`, the thesis' second action): the same scores on object crops (the box with
align/features.py's context margin) against the real boxes' crops, the same elbow; each object above it is
painted black (its mask, else its box) and its annotation dropped; every image is kept.

Shape alignment (`shape_scores`): the same `kde` score on object crops instead of whole images, averaged per
mesh; the meshes above the elbow of those averages look least like the real objects and are dropped
(`exclude_assets` in a SceneConfig renders without them).

KNN precision / recall (Kynkäänniemi et al. 2019), on the same features: precision = the share of synthetic
images that fall inside the real manifold (within the distance from some real image to its K-th nearest real
neighbour), recall = the share of real images inside the synthetic manifold (same rule, sides swapped).
"""
from __future__ import annotations

import numpy as np

PCA_DIMS = 16
ELBOW_MIN = 0.05
MAX_DROP = 0.5


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances between the rows of a and of b (scikit-learn's)."""
    from sklearn.metrics import pairwise_distances as sk_pairwise
    return sk_pairwise(np.asarray(a, float), np.asarray(b, float), metric="euclidean")


def knn_scores(synth: np.ndarray, real: np.ndarray, k: int = 5) -> np.ndarray:
    """Mean distance of each synthetic row to its k nearest real rows (module docstring)."""
    from sklearn.neighbors import NearestNeighbors
    real = np.asarray(real, float)
    k = max(1, min(k, len(real)))
    d, _ = NearestNeighbors(n_neighbors=k).fit(real).kneighbors(np.asarray(synth, float))
    return d.mean(axis=1)


def kde_scores(synth: np.ndarray, real: np.ndarray, dims: int = PCA_DIMS) -> np.ndarray:
    """Minus the log-density of each synthetic row under a Gaussian KDE of the real rows in their first `dims`
    principal axes (module docstring). scikit-learn's KernelDensity takes one bandwidth, so both sides are
    divided by the per-axis bandwidths h, the density taken with bandwidth 1 and sum(log h) (the Jacobian)
    subtracted: the same density as a product kernel with bandwidth h_j on axis j."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KernelDensity
    real, synth = np.asarray(real, float), np.asarray(synth, float)
    dims = max(1, min(dims, real.shape[1], len(real) - 1))
    with np.errstate(divide="ignore", invalid="ignore"):          # one real row: PCA's variance is 0 / 0
        pca = PCA(n_components=dims, svd_solver="full").fit(real)
    r, s = pca.transform(real), pca.transform(synth)
    h = np.maximum(r.std(0) * len(r) ** (-1.0 / (dims + 4)), 1e-9)
    kde = KernelDensity(kernel="gaussian", bandwidth=1.0).fit(r / h)
    return -(kde.score_samples(s / h) - np.log(h).sum())


def elbow(scores: np.ndarray) -> float | None:
    """The score at the knee of the ascending sorted scores (module docstring), or None without a knee."""
    from kneed import KneeLocator
    y = np.sort(np.asarray(scores, float))
    n = len(y)
    if n < 3 or y[-1] - y[0] <= 0:
        return None
    knees = KneeLocator(np.arange(n), y, S=1.0, curve="convex", direction="increasing", online=True).all_knees
    below = np.linspace(0.0, 1.0, n) - (y - y[0]) / (y[-1] - y[0])     # the chord minus the scaled curve
    if not knees:
        return None
    i = max((int(k) for k in knees), key=lambda k: below[k])
    if below[i] < ELBOW_MIN:
        return None
    return float(y[max(i, int(np.ceil(n * (1 - MAX_DROP))) - 1)])


def keep_mask(scores: np.ndarray) -> tuple[np.ndarray, float | None]:
    """(True for the images to keep, the cut score or None): drop every score above the elbow's."""
    cut = elbow(scores)
    s = np.asarray(scores, float)
    return (np.ones(len(s), bool) if cut is None else s <= cut), cut


def precision_recall(real: np.ndarray, synth: np.ndarray, k: int = 5) -> dict[str, float]:
    """KNN precision and recall of the synthetic features against the real ones (module docstring)."""
    from sklearn.neighbors import NearestNeighbors
    real, synth = np.asarray(real, float), np.asarray(synth, float)

    def radii(x):
        kk = max(1, min(k, len(x) - 1))
        d, _ = NearestNeighbors(n_neighbors=kk + 1).fit(x).kneighbors(x)
        return d[:, kk]                                                # column 0 is the point itself

    def inside(points, ref):
        return float((pairwise_distances(points, ref) <= radii(ref)[None, :]).any(1).mean())
    return {"precision": inside(synth, real), "recall": inside(real, synth), "k": k}


SCORES = {"knn": knn_scores, "kde": kde_scores}


def filter_dataset(src, real_cs, real_ids: list[int] | None, dst, score: str = "knn", images_dir=None) -> dict:
    """DST = the finished dataset dir SRC (or any COCO json with its `images_dir`: a real training set against
    another real distribution works the same) without the images whose `score` against the real images'
    features lies above the elbow (module docstring). -> {score, cut, images_in, images_out, dropped}."""
    from align.features import EXTRACTOR, coco_features
    from core.coco import load_coco, write_subset_dir
    from core.errors import UserError
    if score not in SCORES:
        raise UserError(f"--score: one of {', '.join(SCORES)}, got {score!r}")
    syn = load_coco(src, images_dir)
    ids = [int(im["id"]) for im in syn.images]
    if len(ids) < 3:
        raise UserError(f"{src}: {len(ids)} images; feature filtering needs at least 3")
    s = SCORES[score](coco_features(syn, ids), coco_features(real_cs, real_ids))
    keep, cut = keep_mask(s)
    kept = {i for i, k in zip(ids, keep) if k}
    by_id = {int(im["id"]): im["file_name"] for im in syn.images}
    report = {"score": score, "extractor": EXTRACTOR, "cut": cut, "images_in": len(ids), "images_out": len(kept),
              "dropped": [by_id[i] for i, k in zip(ids, keep) if not k]}
    write_subset_dir(src, dst, kept, {"feature_filter": {k: v for k, v in report.items() if k != "dropped"}},
                     images_dir=images_dir)
    return report


def _painter(fill: tuple[int, int, int] = (0, 0, 0)):
    """paint(src, dst, anns): the image with each annotation's mask (its box without one) filled black."""
    def paint(src, dst, anns):
        from PIL import Image

        from render.annotate import rle_decode
        img = np.array(Image.open(src).convert("RGB"))
        for a in anns:
            seg = a.get("segmentation")
            if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                m = rle_decode(seg)
            else:
                x, y, w, h = (int(round(v)) for v in a["bbox"])
                m = np.zeros(img.shape[:2], bool)
                m[max(0, y):y + h, max(0, x):x + w] = True
            img[m] = fill
        Image.fromarray(img).save(dst, quality=95) if str(dst).lower().endswith((".jpg", ".jpeg")) \
            else Image.fromarray(img).save(dst)
    return paint


def blackout_objects(src, real_cs, real_ids: list[int] | None, dst, score: str = "knn", images_dir=None) -> dict:
    """DST = the finished dataset dir SRC with the objects whose crop `score` against the real boxes' crops lies
    above the elbow painted black and their annotations dropped (module docstring). -> {score, cut, objects_in,
    objects_out, images, blacked_out: [annotation ids]}."""
    from align.features import EXTRACTOR, crop_features
    from core.coco import load_coco, write_subset_dir
    from core.errors import UserError
    if score not in SCORES:
        raise UserError(f"--score: one of {', '.join(SCORES)}, got {score!r}")
    syn = load_coco(src, images_dir)
    fs, ann_ids = crop_features(syn)
    if len(ann_ids) < 3:
        raise UserError(f"{src}: {len(ann_ids)} objects; object filtering needs at least 3")
    fr, _ = crop_features(real_cs, real_ids)
    keep, cut = keep_mask(SCORES[score](fs, fr))
    drop = {int(a) for a, k in zip(ann_ids, keep) if not k}
    report = {"score": score, "extractor": EXTRACTOR, "cut": cut, "objects_in": len(ann_ids),
              "objects_out": len(ann_ids) - len(drop), "images": len(syn.images), "blacked_out": sorted(drop)}
    write_subset_dir(src, dst, {int(im["id"]) for im in syn.images},
                     {"object_filter": {k: v for k, v in report.items() if k != "blacked_out"}},
                     drop_ann_ids=drop, paint=_painter(), images_dir=images_dir)
    return report


def shape_scores(syn_cs, sidecar: dict, real_cs, real_ids: list[int] | None) -> list[dict]:
    """Shape alignment (thesis §5.4.2): per mesh (the sidecar's asset_id of each synthetic box), the mean `kde`
    outlier score of its box crops (align/features.py crop_features) under the real boxes' crops, sorted worst
    first; the shapes above the elbow of those means are marked `drop`. -> [{asset_id, boxes, score, drop}]."""
    from align.features import crop_features
    fs, ids = crop_features(syn_cs)
    fr, _ = crop_features(real_cs, real_ids)
    per_box = kde_scores(fs, fr)
    anns = sidecar.get("annotations", {})
    by_asset: dict[str, list[float]] = {}
    for a, sc in zip(ids, per_box):
        aid = (anns.get(str(a)) or {}).get("asset_id")
        if aid:
            by_asset.setdefault(aid, []).append(float(sc))
    names = sorted(by_asset)
    means = np.array([np.mean(by_asset[n]) for n in names])
    cut = elbow(means) if len(names) >= 3 else None
    rows = [{"asset_id": n, "boxes": len(by_asset[n]), "score": round(float(m), 4),
             "drop": bool(cut is not None and m > cut)} for n, m in zip(names, means)]
    return sorted(rows, key=lambda r: -r["score"])
