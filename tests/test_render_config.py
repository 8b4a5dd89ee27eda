"""SceneConfig / grid / shard model / annotation maths: pure Python, no Blender."""
import json
import subprocess
import sys

import numpy as np
import pytest

from render.annotate import bg_similarity, dilate3, erode3, mask_bbox, object_stats, rle_decode, rle_encode
from render.config import SceneConfig
from render.grid import expand_grid
from render.shards import Job, JobEntry, scene_seed
from core.errors import UserError


def _err(d, **kw):
    with pytest.raises(UserError) as e:
        SceneConfig.from_mapping(d, "cfg.yaml", **kw)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cfg.yaml: key ")
    return msg


def test_defaults_roundtrip_and_stable_name():
    c = SceneConfig.from_mapping({"camera": {"distance": [1, 2]}, "classes": ["bottle", "cup"]}, "x")
    assert c.camera.distance == (1.0, 2.0) and c.classes == ("bottle", "cup")
    assert SceneConfig.from_mapping(c.to_mapping(), "y") == c
    assert c.name == SceneConfig.from_mapping(json.loads(c.canonical_json()), "z").name
    assert c.name != SceneConfig.from_mapping({"camera": {"distance": [1, 2.5]}, "classes": ["bottle", "cup"]}).name
    assert c.name.startswith("cfg-") and len(c.name) == 14


@pytest.mark.parametrize("bad, key, words", [
    ({"camera": {"distanse": [1, 2]}}, "camera.distanse", "unknown key"),
    ({"colour": 1}, "colour", "unknown key"),
    ({"camera": {"distance": [2, 1]}}, "camera.distance", "empty range"),
    ({"camera": {"distance": [1]}}, "camera.distance", "range [min, max]"),
    ({"samples": "many"}, "samples", "integer"),
    ({"samples": 2.5}, "samples", "integer"),
    ({"resolution": [64]}, "resolution", "[width, height]"),
    ({"objects_per_scene": [0, 2]}, "objects_per_scene", ">= 1"),
    ({"objects_per_scene": [3, 2]}, "objects_per_scene", "empty range"),
    ({"denoiser": "OPTIX"}, "denoiser", "one of none, fast"),
    ({"placement": "wall"}, "placement", "one of surface, floating"),
    ({"classes": []}, "classes", "must not be empty"),
    ({"lights": {"energy": [5, "x"]}}, "lights.energy", "number"),
    ({"background": {"kind": "sky"}}, "background.kind", "one of color"),
    ({"background": {"kind": "color", "ids": ["red"]}}, "background.ids", "#rrggbb"),
    ({"blur_sigma_px": [True, 1]}, "blur_sigma_px", "number"),
    ({"camera": [1, 2]}, "camera", "mapping"),
])
def test_bad_configs_one_line(bad, key, words):
    msg = _err(bad)
    assert f"key '{key}'" in msg and words in msg


def test_unknown_class_against_manifest():
    msg = _err({"classes": ["bottle", "unicorn"]}, manifest_classes=["bottle", "cup"])
    assert "unknown class 'unicorn'" in msg


def test_from_yaml_errors_name_the_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("camera:\n  elevation_deg: [50, 10]\n")
    with pytest.raises(UserError, match=rf"^{p}: key 'camera.elevation_deg': empty range"):
        SceneConfig.from_yaml(p)
    p.write_text("camera: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        SceneConfig.from_yaml(p)
    p.write_text("samples: {grid: [4, 8]}\n")
    with pytest.raises(UserError, match="grid"):
        SceneConfig.from_yaml(p)


def test_grid_expansion(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("samples: {grid: [4, 8]}\ncamera:\n  distance: {grid: [[1, 2], [2, 3], [1, 2]]}\n"
                 "placement: floating\n")
    cfgs = expand_grid(p)
    assert len(cfgs) == 4  # 2 x 3 with one duplicate distance dropped
    assert {(c.samples, c.camera.distance) for c in cfgs} == {(4, (1.0, 2.0)), (4, (2.0, 3.0)),
                                                              (8, (1.0, 2.0)), (8, (2.0, 3.0))}
    assert all(c.placement == "floating" for c in cfgs)
    assert len({c.name for c in cfgs}) == 4
    assert [c.name for c in expand_grid(p)] == [c.name for c in cfgs]  # deterministic order
    p.write_text("samples: {grid: [4, 0]}\n")
    with pytest.raises(UserError, match=r"grid point samples=0.*key 'samples'"):
        expand_grid(p)
    with pytest.raises(UserError, match="non-empty list"):
        expand_grid({"samples": {"grid": []}})


def test_scene_seeds_and_sharding_independent():
    assert scene_seed(0, 5) == scene_seed(0, 5) != scene_seed(1, 5)
    cfg = SceneConfig().to_mapping()
    a = Job([JobEntry(cfg, "a", 5), JobEntry(cfg, "b", 4)], 7, 2, "m", "d")
    b = Job([JobEntry(cfg, "a", 5), JobEntry(cfg, "b", 4)], 7, 4, "m", "d")
    ta = [t for s in a.shards("/x") for t in s.scenes]
    tb = [t for s in b.shards("/x") for t in s.scenes]
    assert ta == tb and [t.image_id for t in ta] == list(range(1, 10))
    assert [t.config_name for t in ta] == ["a"] * 5 + ["b"] * 4
    assert len(a.shards("/x")) == 5 and len(b.shards("/x")) == 3


def test_rle_and_bbox_match_pycocotools():
    from pycocotools import mask as mu

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = np.zeros((48, 64), bool)
        y0, x0 = rng.integers(0, 40), rng.integers(0, 56)
        m[y0:y0 + rng.integers(1, 9), x0:x0 + rng.integers(1, 9)] = True
        m &= rng.random(m.shape) > 0.2
        if not m.any():
            continue
        rle = rle_encode(m)
        assert np.array_equal(rle_decode(rle), m)
        crle = mu.frPyObjects(rle, 48, 64)
        assert np.array_equal(mu.decode(crle).astype(bool), m)
        assert list(mu.toBbox(crle)) == mask_bbox(m)
        assert int(mu.area(crle)) == int(m.sum())
    full = np.ones((4, 5), bool)
    assert np.array_equal(rle_decode(rle_encode(full)), full)


def test_morphology_and_bg_similarity():
    m = np.zeros((10, 10), bool)
    m[3:7, 3:7] = True
    assert dilate3(m).sum() == 36 and erode3(m).sum() == 4
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:] = (200, 30, 30)
    assert bg_similarity(rgb, m) == pytest.approx(1.0)  # same colour inside and around
    rgb[m] = (20, 200, 40)
    assert bg_similarity(rgb, m) == pytest.approx(0.0)  # disjoint colour bins
    dist = np.full((10, 10), 2.0)
    s = object_stats(rgb, dist, m, np.zeros_like(m))
    assert s["visible_px"] == 16 and s["occlusion_ad2"] == pytest.approx(16 * 4.0) and s["depth_min"] == 2.0
    # other objects are left out of the ring ...
    others = np.zeros_like(m)
    others[2, :] = True
    rgb[2, :] = (20, 200, 40)                       # a neighbour object coloured like our object
    assert bg_similarity(rgb, m, others) == pytest.approx(0.0)
    # ... unless they surround it entirely (a cup on a table): then the ring is what it is seen against
    table = dilate3(m) & ~m
    rgb[table] = (20, 200, 40)
    assert bg_similarity(rgb, m, table) == pytest.approx(1.0)


def test_render_help_is_fast_and_lists_options():
    out = subprocess.run([sys.executable, "-m", "synthgap", "render", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--shard-size" in out.stdout and "--plan" in out.stdout
