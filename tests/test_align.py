"""align: metadata (hand-computed), COCO validation, distances, GMM/silhouette, selector, CLI, real bottles set."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from core.coco import load_coco, load_split  # noqa: E402
from align.distances import bhattacharyya, compare_tables  # noqa: E402
from align.gmm import Fit, fit_gmm  # noqa: E402
from align.metadata import MetadataTable, compute_metadata, metadata_for_dir  # noqa: E402
from align.probes import load_probes  # noqa: E402
from align.plan_predict import plan_mixture_table  # noqa: E402
from align.select import largest_remainder, select_configs  # noqa: E402
from core.errors import UserError  # noqa


# ------------------------------------------------------------------------------------------------ helpers
def write_coco(root: Path, images: dict[int, np.ndarray], anns: list[dict], categories=None, info=None,
               json_name="coco.json", prefix="") -> Path:
    """images: id -> uint8 array (gray or BGR), written losslessly as PNG; anns: {id, image_id, bbox, ...}."""
    root.mkdir(parents=True, exist_ok=True)
    ims = []
    for iid, arr in images.items():
        fn = f"{prefix}{iid:04d}.png"
        (root / fn).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / fn), arr)
        ims.append({"id": iid, "file_name": fn, "width": arr.shape[1], "height": arr.shape[0]})
    full = [{"category_id": 1, "iscrowd": 0, "area": a["bbox"][2] * a["bbox"][3], **a} for a in anns]
    d = {"images": ims, "annotations": full,
         "categories": categories or [{"id": 1, "name": "bottle"}, {"id": 2, "name": "cup"}]}
    if info is not None:
        d["info"] = info
    p = root / json_name
    p.write_text(json.dumps(d))
    return p


def edge_checker_image() -> np.ndarray:
    """64x48: x<16 black, 16<=x<32 white (a vertical edge at x=16), x>=32 a 1-px checkerboard of 0/255."""
    img = np.zeros((48, 64), np.uint8)
    img[:, 16:32] = 255
    yy, xx = np.mgrid[0:48, 32:64]
    img[:, 32:] = np.where((yy + xx) % 2 == 0, 255, 0)
    return img


def lap_reflect101(g: np.ndarray) -> np.ndarray:
    p = np.pad(g.astype(float), 1, mode="reflect")   # numpy 'reflect' == OpenCV BORDER_REFLECT_101
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]


def entropy_bits(a: np.ndarray) -> float:
    h = np.bincount(a.ravel(), minlength=256) / a.size
    h = h[h > 0]
    return float(-(h * np.log2(h)).sum())


@pytest.fixture
def small_set(tmp_path):
    img = edge_checker_image()
    flat = np.full((48, 64), 90, np.uint8)
    anns = [{"id": 1, "image_id": 1, "bbox": [8, 8, 16, 16]},        # across the edge: half 0, half 255
            {"id": 2, "image_id": 1, "bbox": [40, 16, 16, 16]},      # inside the checkerboard
            {"id": 3, "image_id": 1, "bbox": [0, 30, 8, 10], "category_id": 2},   # flat black, a cup
            {"id": 4, "image_id": 2, "bbox": [10, 10, 20, 10]}]      # flat grey image
    return write_coco(tmp_path / "set", {1: img, 2: flat}, anns)


# ------------------------------------------------------------------------------------------------ metadata
def test_metadata_matches_hand_computed_values(small_set):
    t = compute_metadata(small_set, small_set.parent, dataset="toy")
    assert t.n("bbox") == 4 and t.n("image") == 2
    rows = {r["ann_id"]: r for r in t.rows("bbox")}
    r1 = rows[1]
    assert r1["area_px"] == 256 and r1["area_frac"] == pytest.approx(256 / (64 * 48))
    assert r1["aspect"] == 1 and r1["cx"] == pytest.approx(16 / 64) and r1["cy"] == pytest.approx(16 / 48)
    assert r1["brightness"] == pytest.approx(127.5) and r1["contrast"] == pytest.approx(127.5)
    assert r1["entropy"] == pytest.approx(1.0)
    # Laplacian is +255 on column 15 and -255 on column 16 (16 rows each), 0 elsewhere: var = 32·255²/256
    assert r1["sharpness"] == pytest.approx(32 * 255 ** 2 / 256)
    assert 0 < r1["blur"] < 1
    r2 = rows[2]
    assert r2["sharpness"] == pytest.approx(1020.0 ** 2)       # ±4·255 on a 1-px checkerboard
    assert r2["entropy"] == pytest.approx(1.0) and r2["brightness"] == pytest.approx(127.5)
    assert r2["blur"] < 0.01                                    # all energy at the highest frequency
    r3 = rows[3]
    assert r3["category"] == "cup" and r3["sharpness"] == 0 and r3["contrast"] == 0 and r3["entropy"] == 0
    assert math.isnan(r3["blur"])                               # flat region: blur undefined -> NaN, not 0
    assert r1["boxes_per_image"] == 3 and rows[4]["boxes_per_image"] == 1
    img = {r["image_id"]: r for r in t.rows("image")}[1]
    g = edge_checker_image()
    assert img["brightness"] == pytest.approx(g.mean()) and img["contrast"] == pytest.approx(g.std())
    assert img["entropy"] == pytest.approx(entropy_bits(g))
    assert img["sharpness"] == pytest.approx(lap_reflect101(g).var())
    assert math.isnan(img["area_frac"]) and img["boxes_per_image"] == 3
    assert not t.has("depth") and np.isnan(t.values("depth")).all()


def test_blur_grows_when_the_image_is_blurred(tmp_path):
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (48, 64)).astype(np.uint8)
    soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    p = write_coco(tmp_path, {1: sharp, 2: soft}, [{"id": 1, "image_id": 1, "bbox": [4, 4, 40, 30]},
                                                    {"id": 2, "image_id": 2, "bbox": [4, 4, 40, 30]}])
    b = compute_metadata(p, tmp_path).values("blur")
    s = compute_metadata(p, tmp_path).values("sharpness")
    assert b[1] > b[0] + 0.3 and s[0] > 10 * s[1]


def test_category_and_image_filters(small_set):
    t = compute_metadata(small_set, small_set.parent, category="bottle", image_ids=[1])
    assert t.n("bbox") == 2 and t.n("image") == 1
    assert set(t.strings("category")) == {"bottle"}
    assert t.values("boxes_per_image", "image")[0] == 2          # counts only the kept category
    assert compute_metadata(small_set, small_set.parent, category=2).n("bbox") == 1
    with pytest.raises(UserError, match="category 'dog' not in the file.*bottle"):
        compute_metadata(small_set, small_set.parent, category="dog")
    with pytest.raises(UserError, match=r"image ids \[7\]"):
        compute_metadata(small_set, small_set.parent, image_ids=[1, 7])


def test_table_save_load_roundtrip(small_set, tmp_path):
    t = compute_metadata(small_set, small_set.parent, dataset="toy")
    for name in ("t.json", "t.csv"):
        u = MetadataTable.load(t.save(tmp_path / name))
        assert u.columns == t.columns and u.dataset == "toy" and u.n("bbox") == 4
        for c in ("area_frac", "sharpness", "blur", "ann_id"):
            np.testing.assert_allclose(u.values(c, None), t.values(c, None), equal_nan=True)
        assert u.strings("category") == t.strings("category")


def _dataset_dir(root: Path, n_images: int, box_w: float, cy: float, config: dict | None = None,
                 seed: int = 0, done: bool = True) -> Path:
    """A render-like dataset dir: images/NNNNNN.jpg, coco_annotations.json with info.config, sidecar, DONE."""
    rng = np.random.default_rng(seed)
    images, anns, side_i, side_a = {}, [], {}, {}
    for i in range(1, n_images + 1):
        img = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
        images[i] = img
        w = float(np.clip(box_w + rng.normal(0, 2), 4, 40))
        y = float(np.clip(cy * 48 - w / 2 + rng.normal(0, 2), 0, 47 - w))
        anns.append({"id": i, "image_id": i, "bbox": [10.0, y, w, w]})
        side_i[str(i)] = {"camera_distance": 1.5, "camera_elevation_deg": 30.0}
        side_a[str(i)] = {"depth_median": 1.0 + 0.01 * i, "visible_px": w * w, "occlusion_ad2": w * w,
                          "bg_similarity": 0.5, "asset_id": "bottle_a", "class": "bottle"}
    info = {"config": config} if config is not None else None
    p = write_coco(root, images, anns, categories=[{"id": 1, "name": "bottle"}], info=info,
                   json_name="coco_annotations.json", prefix="images/")
    (root / "sidecar.json").write_text(json.dumps({"images": side_i, "annotations": side_a}))
    if done:
        (root / "DONE").write_text("ok\n")
    return p.parent


def test_metadata_for_dir_reads_the_sidecar(tmp_path):
    d = _dataset_dir(tmp_path / "ds", 5, 12, 0.5)
    t = metadata_for_dir(d)
    assert t.dataset == "ds" and t.n("bbox") == 5
    assert t.has("depth") and t.values("depth")[0] == pytest.approx(1.01)
    assert t.values("camera_distance", "image")[0] == 1.5 and t.strings("asset_id")[0] == "bottle_a"
    assert np.isnan(t.values("depth", "image")).all()
    with pytest.raises(UserError, match="not a dataset dir"):
        metadata_for_dir(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------ bad input
def _bad_coco(tmp_path, mutate):
    img = np.zeros((48, 64), np.uint8)
    p = write_coco(tmp_path, {1: img, 2: img}, [{"id": 10, "image_id": 1, "bbox": [1, 1, 10, 10]},
                                                 {"id": 11, "image_id": 2, "bbox": [5, 5, 10, 10]}])
    d = json.loads(p.read_text())
    mutate(d)
    p.write_text(json.dumps(d))
    return p


BAD = {
    "box outside": (lambda d: d["annotations"][1].update(bbox=[60, 5, 10, 10]), ["image id 2", "annotation id 11", "'bbox'", "outside"]),
    "zero area": (lambda d: d["annotations"][1].update(bbox=[5, 5, 0, 10]), ["image id 2", "annotation id 11", "'bbox'", "zero or negative"]),
    "negative area": (lambda d: d["annotations"][1].update(bbox=[5, 5, 10, -3]), ["annotation id 11", "'bbox'"]),
    "unknown category": (lambda d: d["annotations"][1].update(category_id=9), ["image id 2", "annotation id 11", "'category_id'", "unknown category id 9"]),
    "missing file": (lambda d: d["images"][1].update(file_name="gone.png"), ["image id 2", "'file_name'", "gone.png"]),
    "duplicate image id": (lambda d: d["images"].append(dict(d["images"][1])), ["image id 2", "'id'", "duplicate image id"]),
    "duplicate ann id": (lambda d: d["annotations"].append(dict(d["annotations"][1], image_id=1)), ["annotation id 11", "'id'", "duplicate annotation id"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_file_image_and_field(tmp_path, case):
    mutate, needles = BAD[case]
    p = _bad_coco(tmp_path, mutate)
    with pytest.raises(UserError) as e:
        compute_metadata(p, tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)
    t = compute_metadata(p, tmp_path, skip_invalid=True)      # report and skip instead
    assert t.skipped and t.n("bbox") >= 1


def test_unreadable_json_and_image(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(UserError, match="broken.json: not valid json"):
        load_coco(p, tmp_path)
    with pytest.raises(UserError, match="COCO json file not found"):
        load_coco(tmp_path / "none.json", tmp_path)
    q = write_coco(tmp_path / "x", {1: np.zeros((8, 8), np.uint8)}, [{"id": 1, "image_id": 1, "bbox": [0, 0, 4, 4]}])
    (q.parent / "0001.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="image id 1: field 'file_name'.*not a readable image"):
        compute_metadata(q, q.parent)
    assert compute_metadata(q, q.parent, skip_invalid=True).n("image") == 0


def test_split_errors(tmp_path, small_set):
    def split(d):
        p = tmp_path / "split.json"
        p.write_text(json.dumps(d))
        return p
    assert load_split(split({"exposed": [1], "test": [2]}), small_set).exposed == [1]
    with pytest.raises(UserError, match="key 'test': missing"):
        load_split(split({"exposed": [1]}))
    with pytest.raises(UserError, match=r"\[2\] are in both"):
        load_split(split({"exposed": [1, 2], "test": [2]}))
    with pytest.raises(UserError, match=r"key 'test': image ids \[5\] not in"):
        load_split(split({"exposed": [1], "test": [5]}), small_set)


# ------------------------------------------------------------------------------------------------ distances
def test_bhattacharyya_properties():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 400), rng.normal(0.3, 1.2, 300)
    same = bhattacharyya(a, a.copy())
    assert same.db == 0 and same.bc == 1 and same.n_bins >= 5 and same.w1 == 0
    ab, ba = bhattacharyya(a, b), bhattacharyya(b, a)
    assert ab.db == pytest.approx(ba.db) and ab.n_bins == ba.n_bins and ab.w1 == pytest.approx(ba.w1)
    dbs = [bhattacharyya(a, a + s).db for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(x < y for x, y in zip(dbs, dbs[1:])), dbs
    disjoint = bhattacharyya(np.arange(50.0), np.arange(50.0) + 1000)
    assert math.isfinite(disjoint.db) and disjoint.db > dbs[-1] and 0 < disjoint.bc < 0.2
    assert bhattacharyya([1.0, 1.0], [1.0]).db == 0                   # one value everywhere: one bin
    empty = bhattacharyya([np.nan], a)
    assert empty.db is None and "first" in empty.reason
    with_nan = bhattacharyya(np.r_[a, np.nan], a)
    assert with_nan.db == 0 and with_nan.n_a == 400


def test_compare_tables_handles_missing_metadata(small_set, tmp_path):
    real = compute_metadata(small_set, small_set.parent, dataset="real")
    syn = metadata_for_dir(_dataset_dir(tmp_path / "syn", 6, 12, 0.5))
    res = compare_tables(real, syn, ["area_frac", "depth", "sharpness"])
    assert res["area_frac"].db > 0 and res["area_frac"].n_a == 4 and res["area_frac"].n_b == 6
    assert res["depth"].db is None and "real" in res["depth"].reason
    assert compare_tables(real, real, ["cy"])["cy"].db == 0


# ------------------------------------------------------------------------------------------------ GMM
def _modes(rng, means, sd, n):
    return np.concatenate([rng.normal(m, sd, n) for m in means])


def test_gmm_picks_three_modes_and_one_for_unimodal(tmp_path):
    rng = np.random.default_rng(0)
    three = _modes(rng, [0.1, 0.4, 0.7], 0.03, 150)
    f = fit_gmm({"area_frac": three}, kmax=5, seed=0)
    assert f.k == 3 and f.fits["area_frac"]["k"] == 3
    means = sorted(c["mean"][0] for c in f.components)
    np.testing.assert_allclose(means, [0.1, 0.4, 0.7], atol=0.02)
    np.testing.assert_allclose(f.weights(), [1 / 3] * 3, atol=0.05)
    assert f.silhouette["1"] is None and f.silhouette["3"] > 0.7
    uni = fit_gmm({"area_frac": rng.normal(0.3, 0.05, 400)}, kmax=5)
    assert uni.k == 1 and "single Gaussian" in uni.k_reason
    assert uni.components[0]["weight"] == 1.0
    joint = fit_gmm({"area_frac": three, "cy": rng.permutation(_modes(rng, [0.2, 0.5, 0.8], 0.03, 150))},
                    mode="joint")
    assert joint.k >= 3 and not joint.fits
    tiny = fit_gmm({"cy": [0.5, 0.6]})
    assert tiny.k == 1 and "at least 3 rows" in tiny.k_reason
    p = f.to_json(tmp_path / "fit.json")
    d = json.loads(p.read_text())
    assert {"metadata", "mode", "k", "silhouette", "components", "n_real", "fits"} <= set(d)
    assert set(d["components"][0]) == {"weight", "mean", "cov"} and d["fits"]["area_frac"]["k"] == 3
    g = Fit.load(p)
    assert g.k == 3 and g.metadata == ["area_frac"] and np.allclose(g.means(), f.means())


def test_gmm_default_metadata_adds_depth(tmp_path):
    t = metadata_for_dir(_dataset_dir(tmp_path / "ds", 12, 12, 0.5))
    assert fit_gmm(t).metadata == ["area_frac", "cy", "depth"]
    with pytest.raises(UserError, match="'depth' has no finite value"):
        fit_gmm(t.subset(t.data["level"] == "image"), metadata=["depth"])
    with pytest.raises(Exception):
        Fit.load(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------------------ selector
def table_from(name: str, cols: dict[str, np.ndarray]) -> MetadataTable:
    """One box per image: bbox rows + image rows, as compute_metadata lays them out."""
    n = len(next(iter(cols.values())))
    ids = np.arange(1, n + 1, dtype=float)
    data = {"dataset": np.array([name] * 2 * n, dtype=object), "image_id": np.r_[ids, ids],
            "ann_id": np.r_[ids, np.full(n, np.nan)], "level": np.array(["bbox"] * n + ["image"] * n, dtype=object)}
    for c, v in cols.items():
        data[c] = np.r_[np.asarray(v, float), np.full(n, np.nan)]
    return MetadataTable(name, data)


def _probe_configs():
    from render.config import SceneConfig
    cfgs = [SceneConfig(camera=SceneConfig().camera.__class__(distance=(d, d + 0.2))).to_mapping()
            for d in (0.5, 1.0, 2.0, 3.0, 4.0)]
    return cfgs, [SceneConfig.from_mapping(c).name for c in cfgs]


PROBE_DISTS = [((0.30, 0.03), (0.55, 0.04)), ((0.15, 0.02), (0.50, 0.05)), ((0.06, 0.01), (0.45, 0.03)),
               ((0.03, 0.005), (0.40, 0.02)), ((0.15, 0.06), (0.50, 0.15))]   # last: right mean, too wide


def _probes(rng, n=150):
    cfgs, names = _probe_configs()
    probes = {}
    for cfg, name, ((ma, sa), (mc, sc)) in zip(cfgs, names, PROBE_DISTS):
        probes[name] = (cfg, table_from(name, {"area_frac": rng.normal(ma, sa, n), "cy": rng.normal(mc, sc, n)}))
    return probes, names


def test_selector_recovers_a_hidden_mixture():
    """Target = 50 % config 0 + 30 % config 1 + 20 % config 3 (fresh draws; config 4 has config 1's mean but twice its
    spread, so only the variance term tells them apart). Tolerance: the right three configs,
    counts within 5 % of the total of the hidden weights, predicted D_B < 0.1 per metadata."""
    rng = np.random.default_rng(1)
    probes, names = _probes(rng)
    mix = {0: 0.5, 1: 0.3, 3: 0.2}
    parts = {"area_frac": [], "cy": []}
    for i, w in mix.items():
        (ma, sa), (mc, sc) = PROBE_DISTS[i]
        k = int(600 * w)
        parts["area_frac"].append(rng.normal(ma, sa, k))
        parts["cy"].append(rng.normal(mc, sc, k))
    real = table_from("real", {m: np.concatenate(v) for m, v in parts.items()})
    fit = fit_gmm(real, metadata=["area_frac", "cy"], mode="joint", kmax=5)
    assert fit.k == 3
    plan = select_configs(fit, probes, total=2000, real=real)
    got = {e.config_name: e.count for e in plan.entries if e.count}
    assert set(got) == {names[i] for i in mix}
    for i, w in mix.items():
        assert abs(got[names[i]] - 2000 * w) <= 0.05 * 2000, got
    assert sum(e.count for e in plan.entries) == 2000
    assert all(v < 0.1 for v in (plan.predicted_db["area_frac"], plan.predicted_db["cy"])), plan.predicted_db
    assert plan.predicted["area_frac"]["n"] > 0 and "score" in plan.entries[0].why
    # the same target from a 1-D fit (thesis mode) selects through the joint components: same answer
    plan1 = select_configs(fit_gmm(real, metadata=["area_frac", "cy"], mode="1d"), probes, total=2000)
    assert {e.config_name for e in plan1.entries if e.count} == set(got)
    # a wrong plan (all one config) is predicted farther from the real data
    one = select_configs(fit_gmm(real.subset(np.isin(real.data["image_id"], np.arange(1, 301))), mode="joint",
                                 metadata=["area_frac"]), probes, total=2000, real=real)
    assert one.predicted_db["area_frac"] > plan.predicted_db["area_frac"]


def test_mixture_selector_recovers_overlapping_modes():
    """The mixture selector (method="mixture") on targets the component method gets wrong: two configs whose
    modes overlap (a GMM fit on a small sample does not split them like the configs do), and a wide target
    that no single config matches. Tolerance: weights within 0.1 of the hidden ones (200 real rows: the
    sampling error of a weight alone is up to 0.035)."""
    rng = np.random.default_rng(3)
    probes, names = _probes(rng, n=60)
    for mix in ({1: 0.6, 4: 0.4}, {0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}, {2: 0.8, 0: 0.2}):
        parts = {"area_frac": [], "cy": []}
        for i, w in mix.items():
            (ma, sa), (mc, sc) = PROBE_DISTS[i]
            k = int(round(200 * w))     # a small real sample (boxes of ~100 photos)
            parts["area_frac"].append(rng.normal(ma, sa, k))
            parts["cy"].append(rng.normal(mc, sc, k))
        real = table_from("real", {m: np.concatenate(v) for m, v in parts.items()})
        fit = fit_gmm(real, metadata=["area_frac", "cy"], mode="joint", kmax=5)
        plan = select_configs(fit, probes, total=1000, real=real, method="mixture")
        got = {e.config_name: e.count / 1000 for e in plan.entries}
        assert sum(e.count for e in plan.entries) == 1000 and all(e.count > 0 for e in plan.entries)
        for j, name in enumerate(names):
            assert abs(got.get(name, 0.0) - mix.get(j, 0.0)) <= 0.1, (mix, got)
        assert "mixture weight" in plan.entries[0].why
        assert all(v < 0.15 for v in (plan.predicted_db["area_frac"], plan.predicted_db["cy"])), plan.predicted_db


def test_mixture_weights_em_basics():
    from align.select import mixture_weights
    rng = np.random.default_rng(0)
    a, b = rng.normal(-3, 1, (50, 1)), rng.normal(3, 1, (50, 1))
    X = np.concatenate([rng.normal(-3, 1, (30, 1)), rng.normal(3, 1, (70, 1))])
    w, ll, rounds = mixture_weights(X, {"a": a, "b": b})
    assert abs(w["a"] - 0.3) < 0.03 and abs(w["b"] - 0.7) < 0.03 and abs(sum(w.values()) - 1) < 1e-9
    assert math.isfinite(ll) and rounds >= 1
    # a probe identical to another cannot steal weight from nothing: total stays 1, order-independent result
    w2, _, _ = mixture_weights(X, {"b": b, "a": a})
    assert w2 == pytest.approx(w)


def test_unknown_selector_method_is_an_error():
    rng = np.random.default_rng(0)
    probes, _ = _probes(rng, n=20)
    real = table_from("real", {"area_frac": rng.normal(0.3, 0.03, 40), "cy": rng.normal(0.5, 0.05, 40)})
    fit = fit_gmm(real, metadata=["area_frac", "cy"], mode="joint", kmax=2)
    with pytest.raises(UserError, match="unknown selector .best. .choose from component, mixture"):
        select_configs(fit, probes, total=10, real=real, method="best")


def test_selector_ties_merge_and_rounding(tmp_path):
    rng = np.random.default_rng(2)
    probes, names = _probes(rng)
    # two components close to the same probe -> one merged entry listing both components
    comps = [{"weight": 0.5, "mean": [0.30, 0.55], "cov": [[0.03 ** 2, 0], [0, 0.04 ** 2]]},
             {"weight": 0.5, "mean": [0.305, 0.555], "cov": [[0.03 ** 2, 0], [0, 0.04 ** 2]]}]
    fit = Fit(metadata=["area_frac", "cy"], mode="joint", k=2, silhouette={}, components=comps, n_real=10,
              real_std=[0.1, 0.1], data={"area_frac": [0.3, 0.31], "cy": [0.5, 0.56]})
    plan = select_configs(fit, probes, total=7)
    assert len(plan.entries) == 1 and plan.entries[0].component == [0, 1] and plan.entries[0].count == 7
    assert plan.entries[0].config_name == names[0]
    # identical probes under two names: the name that sorts first wins, every time
    twin = dict(probes)
    a, b = sorted(["cfg-zzz", "cfg-aaa"])
    twin[b] = probes[names[0]]
    twin[a] = probes[names[0]]
    assert select_configs(fit, twin, total=3).entries[0].config_name == a
    assert largest_remainder(np.array([1, 1, 1]), 10) == [4, 3, 3]
    assert sum(largest_remainder(np.array([0.501, 0.2995, 0.1995]), 2001)) == 2001
    with pytest.raises(UserError, match="--total"):
        select_configs(fit, probes, total=0)
    bad = {names[0]: (probes[names[0]][0], table_from("x", {"area_frac": [0.1]}))}
    with pytest.raises(UserError, match="no usable probe"):
        select_configs(fit, bad, total=3)


def test_plan_yaml_is_a_render_plan(tmp_path):
    import yaml
    from render.dataset import _plan_entries
    rng = np.random.default_rng(3)
    probes, names = _probes(rng, 40)
    fit = fit_gmm(table_from("real", {"area_frac": _modes(rng, [0.3, 0.06], 0.02, 60),
                                      "cy": rng.normal(0.5, 0.04, 120)}), metadata=["area_frac", "cy"])
    plan = select_configs(fit, probes, total=50)
    p = plan.to_yaml(tmp_path / "plan.yaml")
    d = yaml.safe_load(p.read_text())
    assert d["total"] == 50 and set(d["predicted_db"]) == {"area_frac", "cy"}
    entries = _plan_entries(d, str(p), ["bottle", "cup"])
    assert sum(k for _, k in entries) == 50
    assert {c.name for c, _ in entries} == {e["config_name"] for e in d["entries"] if e["count"]}
    mix = plan_mixture_table(plan, probes)
    assert mix.n("image") == 50 and mix.n("bbox") == 50


def test_load_probes_reads_dataset_dirs(tmp_path):
    cfgs, names = _probe_configs()
    _dataset_dir(tmp_path / "probes" / "a", 6, 10, 0.5, config=cfgs[0])
    _dataset_dir(tmp_path / "probes" / "b", 6, 20, 0.5, config=[cfgs[1]], seed=1)
    probes = load_probes(tmp_path / "probes")
    assert set(probes) == {names[0], names[1]}
    cfg, t = probes[names[1]]
    assert cfg == cfgs[1] and t.n("bbox") == 6 and t.dataset == names[1] and t.has("depth")
    _dataset_dir(tmp_path / "probes" / "c", 2, 10, 0.5, config=cfgs[2], done=False)
    with pytest.raises(UserError, match="probe render incomplete"):
        load_probes(tmp_path / "probes")


def test_grown_probe_rounds_are_appended_in_order(tmp_path):
    from align.probes import MORE_DIR
    cfgs, names = _probe_configs()
    _dataset_dir(tmp_path / "probes" / "a", 6, 10, 0.5, config=cfgs[0])
    _dataset_dir(tmp_path / "probes" / MORE_DIR / names[0] / "r1", 4, 10, 0.5, config=cfgs[0], seed=5)
    _dataset_dir(tmp_path / "probes" / MORE_DIR / names[0] / "r2", 3, 10, 0.5, config=cfgs[0], seed=6)
    t = load_probes(tmp_path / "probes")[names[0]].table
    assert t.n("image") == 13 and np.unique(t.values("image_id", "image")).size == 13   # every image its own id
    assert load_probes(tmp_path / "probes", more=1)[names[0]].table.n("image") == 10
    assert load_probes(tmp_path / "probes", more=0)[names[0]].table.n("image") == 6
    _dataset_dir(tmp_path / "probes" / MORE_DIR / names[0] / "r3", 3, 10, 0.5, config=cfgs[1], seed=7)
    with pytest.raises(UserError, match="r3: field 'info.config': not the config of"):
        load_probes(tmp_path / "probes")


def _one_config_probe(name_i: int, n: int, rng, area=(0.1, 0.02), cy=(0.5, 0.1), bright=(120.0, 10.0)):
    cfgs, names = _probe_configs()
    cols = {"area_frac": rng.normal(*area, n), "cy": rng.normal(*cy, n), "brightness": rng.normal(*bright, n)}
    return names[name_i], (cfgs[name_i], table_from(names[name_i], cols))


def test_predicted_interval_narrows_as_the_probe_grows():
    """The 95 % interval of the predicted D_B comes from resampling the probe's images: 8 images give a wide
    one, 400 a narrow one; both hold the point prediction; `wide` lists the aligned metadata over the bound."""
    rng = np.random.default_rng(0)
    real = table_from("real", {"area_frac": rng.normal(0.1, 0.02, 60), "cy": rng.normal(0.5, 0.1, 60)})
    fit = fit_gmm(real, metadata=["area_frac", "cy"], mode="1d")
    width = {}
    for n in (8, 400):
        name, probe = _one_config_probe(0, n, rng)
        plan = select_configs(fit, {name: probe}, total=100, real=real, method="mixture")
        for m in ("area_frac", "cy"):
            lo, hi = plan.predicted_ci[m]
            assert lo <= plan.predicted_db[m] <= hi or n == 8 and plan.predicted_db[m] < lo   # small-sample bias
        width[n] = max(hi - lo for lo, hi in plan.predicted_ci.values())
        assert plan.probe_images == {name: n}
        assert set(plan.wide(0.0)) == {"area_frac", "cy"} and plan.wide(10.0) == {}
    assert width[400] < width[8] / 2, width
    again = select_configs(fit, {name: probe}, total=100, real=real, method="mixture")
    assert again.predicted_ci == plan.predicted_ci                                             # seeded


def test_grid_reach_warns_when_the_grid_cannot_move_or_reach_a_metadata():
    """Brightness (an image statistic) aligns like box metadata when the grid moves it (say by exposure); when
    every config renders the same brightness far from the photos', the plan says the grid cannot move it."""
    rng = np.random.default_rng(1)
    real = table_from("real", {"area_frac": rng.normal(0.1, 0.02, 80), "cy": rng.normal(0.5, 0.1, 80),
                               "brightness": np.r_[rng.normal(80, 8, 40), rng.normal(160, 8, 40)]})
    fit = fit_gmm(real, metadata=["area_frac", "cy", "brightness"], mode="1d")
    moving = dict(_one_config_probe(i, 40, rng, bright=(b, 8.0)) for i, b in enumerate((80.0, 120.0, 160.0)))
    plan = select_configs(fit, moving, total=100, real=real, method="mixture")
    assert plan.notes == [] and plan.reach["brightness"]["moves"] and plan.reach["brightness"]["outside_sd"] == 0
    shares = {e.config_name: e.count for e in plan.entries}
    names = sorted(moving, key=lambda n: moving[n][1].values("brightness").mean())
    assert shares.get(names[0], 0) > 35 and shares.get(names[2], 0) > 35 and shares.get(names[1], 0) < 15
    fixed = dict(_one_config_probe(i, 40, rng, bright=(200.0, 8.0)) for i in range(3))
    stuck = select_configs(fit, fixed, total=100, real=real, method="mixture")
    assert not stuck.reach["brightness"]["moves"]
    assert [n for n in stuck.notes if n.startswith("brightness: the grid cannot move it")], stuck.notes
    assert "effects.exposure_ev" in stuck.notes[0] and stuck.predicted_db["brightness"] > 2 * plan.predicted_db["brightness"]
    assert not [n for n in stuck.notes if n.startswith(("area_frac", "cy"))]
    shifted = {n: (c, table_from(n, {**{k: t.values(k) for k in ("area_frac", "cy")},
                                      "brightness": t.values("brightness") + 150}))
               for n, (c, t) in moving.items()}
    far = select_configs(fit, shifted, total=100, real=real, method="mixture")
    assert [n for n in far.notes if n.startswith("brightness: the grid cannot reach the real mean")], far.notes


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_metadata_compare_fit_select(tmp_path, capsys):
    from synthgap.cli import main
    cfgs, names = _probe_configs()
    real = _dataset_dir(tmp_path / "real", 20, 12, 0.5)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"exposed": list(range(1, 15)), "test": list(range(15, 21))}))
    for i, w in enumerate((10, 14, 30)):
        _dataset_dir(tmp_path / "probes" / f"p{i}", 8, w, 0.5, config=cfgs[i], seed=i)
    rj = str(real / "coco_annotations.json")
    assert main(["align", "metadata", rj, "--split", str(split), "--out", str(tmp_path / "t.csv"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "14 boxes in 14 images" in out and "area_frac" in out
    assert MetadataTable.load(tmp_path / "t.csv").n("bbox") == 14
    assert main(["align", "compare", str(tmp_path / "probes" / "p0"), "--real", rj, "--split", str(split),
                 "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "D_B" in out and "W1" in out and "area_frac" in out
    assert (tmp_path / "cmp" / "hist_area_frac.png").stat().st_size > 1000
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["results"]["area_frac"]["db"] >= 0
    assert main(["align", "fit", "--real", rj, "--split", str(split), "--out", str(tmp_path / "fit.json"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "fit.json").read_text())["n_real"] == 14
    assert main(["align", "select", "--fit", str(tmp_path / "fit.json"), "--probes", str(tmp_path / "probes"),
                 "--total", "30", "--out", str(tmp_path / "plan.yaml"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "predicted D_B" in out and (tmp_path / "plan.yaml").exists()
    import yaml
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert sum(e["count"] for e in plan["entries"]) == 30 and plan["entries"][0]["config_name"] == names[0]
    # errors: one line, exit 2
    assert main(["align", "fit", "--real", str(tmp_path / "nope.json"), "--quiet", "--out",
                 str(tmp_path / "f2.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and len(err.strip().splitlines()) == 1
    assert main(["align", "select", "--fit", str(tmp_path / "fit.json"), "--probes", str(tmp_path / "none"),
                 "--total", "5", "--out", str(tmp_path / "p2.yaml")]) == 2
    capsys.readouterr()
    assert main(["align", "fit", "--real", rj, "--split", str(split), "--out", str(tmp_path), "--quiet"]) == 2
    assert "--out is a folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ real set
def test_real_bottles_exposed_metadata_and_fit(realset, tmp_path):
    sp = load_split(realset / "split.json", realset / "annotations_coco.json")
    assert len(sp.exposed) == 30 and len(sp.test) == 59
    t = compute_metadata(realset / "annotations_coco.json", realset / "images", category="bottle",
                         image_ids=sp.exposed, dataset="real-exposed")
    assert t.n("image") == 30 and t.n("bbox") == 35
    for m in ("area_frac", "cx", "cy", "sharpness", "blur", "entropy", "brightness", "contrast"):
        v = t.values(m)
        assert np.isfinite(v).all(), m
    assert ((t.values("area_frac") > 0) & (t.values("area_frac") <= 1)).all()
    f = fit_gmm(t, kmax=4)
    assert f.metadata == ["area_frac", "cy"] and f.n_real == 35 and 1 <= f.k <= 4
    assert set(f.fits) == {"area_frac", "cy"}
    f.to_json(tmp_path / "fit.json")
    assert Fit.load(tmp_path / "fit.json").k == f.k


def test_cli_skip_invalid_reports_and_continues(tmp_path, capsys):
    from synthgap.cli import main
    p = _bad_coco(tmp_path, BAD["box outside"][0])
    assert main(["align", "metadata", str(p), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "annotation id 11" in err and len(err.strip().splitlines()) == 1
    assert main(["align", "metadata", str(p), "--skip-invalid", "--quiet", "--out", str(tmp_path / "t.json")]) == 0
    cap = capsys.readouterr()
    assert "skipped: image id 2: annotation id 11" in cap.err and "1 boxes in 2 images, 1 skipped" in cap.out
    assert MetadataTable.load(tmp_path / "t.json").n("bbox") == 1
