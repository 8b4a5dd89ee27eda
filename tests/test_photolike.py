"""Photo-like scenes without Blender: the photo-background and effects keys, the compositor and effects
(render/postfx.py), background plates from the exposed photos (render/plates.py)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from render.config import EffectsConfig, SceneConfig
from render import postfx
from render.plates import largest_free_rect, make_plates, plate_boxes

REPO = Path(__file__).resolve().parent.parent


def _err(d):
    with pytest.raises(UserError) as e:
        SceneConfig.from_mapping(d, "cfg.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cfg.yaml: key ")
    return msg


@pytest.fixture
def photo_dir(tmp_path):
    d = tmp_path / "plates"
    d.mkdir()
    for k, c in enumerate([(200, 30, 30), (30, 200, 30)]):
        Image.new("RGB", (40, 30), c).save(d / f"p{k}.jpg")
    return d


def test_old_configs_keep_their_names():
    # names fixed before `effects` and `background.dir` existed: those keys are written only when used
    assert SceneConfig.from_mapping({"denoiser": "none"}).name == "cfg-b78fddd690"   # the old default, as stored
    assert SceneConfig().denoiser == "fast" and SceneConfig().name != "cfg-b78fddd690"
    assert SceneConfig.from_mapping({"background": {"kind": "hdri", "ids": ["a"]}, "denoiser": "none",
                                     "blur_sigma_px": [1, 2]}).name == "cfg-8f41b59e87"
    assert "effects" not in SceneConfig().to_mapping() and "dir" not in SceneConfig().to_mapping()["background"]


def test_photo_and_effects_keys_roundtrip(photo_dir, monkeypatch):
    monkeypatch.chdir(photo_dir.parent)
    c = SceneConfig.from_mapping({"background": {"kind": "photo", "dir": "plates"},
                                  "effects": {"noise_sigma": [1, 3], "jpeg_quality": [60, 90]}}, "x")
    assert c.background.dir == str(photo_dir.resolve())          # stored absolute
    assert c.effects == EffectsConfig(noise_sigma=(1.0, 3.0), jpeg_quality=(60, 90))
    assert SceneConfig.from_mapping(c.to_mapping(), "y") == c
    assert c.name != SceneConfig.from_mapping({"background": {"kind": "photo", "dir": "plates"}}).name


@pytest.mark.parametrize("bad, key, words", [
    ({"background": {"kind": "photo"}}, "background.dir", "required with kind photo"),
    ({"background": {"kind": "hdri", "dir": "x"}}, "background.dir", "only goes with kind photo"),
    ({"background": {"kind": "photo", "dir": "/no/such/folder"}}, "background.dir", "is not a folder"),
    ({"background": {"kind": "photo", "dir": 3}}, "background.dir", "folder path"),
    ({"effects": {"noise": [0, 1]}}, "effects.noise", "unknown key"),
    ({"effects": {"jpeg_quality": [50, 101]}}, "effects.jpeg_quality", "<= 100"),
    ({"effects": {"jpeg_quality": [2, 50]}}, "effects.jpeg_quality", ">= 5"),
    ({"effects": {"exposure_ev": [1, -1]}}, "effects.exposure_ev", "empty range"),
    ({"effects": {"white_balance_k": [500, 6500]}}, "effects.white_balance_k", ">= 2000"),
    ({"effects": {"noise_sigma": [0, "x"]}}, "effects.noise_sigma", "number"),
    ({"effects": {"motion_px": [-1, 3]}}, "effects.motion_px", ">= 0"),
    ({"effects": {"motion_px": [2, 100]}}, "effects.motion_px", "<= 64"),
    ({"clutter": {"count": [2, 1]}}, "clutter.count", "empty range"),
    ({"clutter": {"count": [0, 99]}}, "clutter.count", "<= 64"),
    ({"clutter": {"occlude": 1.5}}, "clutter.occlude", "<= 1"),
    ({"clutter": {"many": 3}}, "clutter.many", "unknown key"),
    ({"materials": {"hue_shift": [-0.7, 0]}}, "materials.hue_shift", ">= -0.5"),
    ({"materials": {"roughness": [0.2, 1.5]}}, "materials.roughness", "<= 1"),
    ({"materials": {"transmission": [0.5]}}, "materials.transmission", "range [min, max]"),
    ({"materials": {"shine": [0, 1]}}, "materials.shine", "unknown key"),
])
def test_bad_photo_and_effects_keys(bad, key, words):
    msg = _err(bad)
    assert f"key '{key}'" in msg and words in msg, msg


def test_photo_dir_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert "holds no .jpg/.jpeg/.png" in _err({"background": {"kind": "photo", "dir": str(tmp_path)}})


def test_composite_keeps_objects_and_shows_photo_elsewhere():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[5:15, 10:20] = (10, 200, 30, 255)           # an opaque object
    rgba[20:25, 0:40, 3] = 128                        # a half-dark shadow (black, alpha 0.5)
    out = postfx.composite(rgba, photo)
    assert (out[5:15, 10:20] == (10, 200, 30)).all()          # object pixels untouched
    assert (out[:5] == photo[:5]).all()                       # alpha 0: the photo exactly
    shadow = out[20:25].astype(int)
    assert np.abs(shadow - photo[20:25].astype(int) * (1 - 128 / 255)).max() <= 1
    with pytest.raises(ValueError):
        postfx.composite(rgba, photo[:10])


def test_effects_are_deterministic_and_off_by_default():
    img = np.full((20, 20, 3), 128, np.uint8)
    assert postfx.apply_effects(img) is img
    a = postfx.apply_effects(img, noise_sigma=5.0, seed=7)
    assert np.array_equal(a, postfx.apply_effects(img, noise_sigma=5.0, seed=7))
    assert not np.array_equal(a, postfx.apply_effects(img, noise_sigma=5.0, seed=8))
    assert 3.0 < float(a.astype(float).std()) < 7.0
    assert postfx.apply_effects(img, exposure_ev=1.0).mean() > img.mean() + 30      # one stop brighter
    warm, cool = postfx.apply_effects(img, white_balance_k=9000.0), postfx.apply_effects(img, white_balance_k=3500.0)
    assert warm[..., 0].mean() > warm[..., 2].mean() and cool[..., 2].mean() > cool[..., 0].mean()


def test_free_rectangles_avoid_every_box():
    blocked = np.zeros((10, 10), bool)
    blocked[:, 4:6] = True
    assert largest_free_rect(blocked, 1.0, 1) == (0, 0, 4, 4)     # top-most, then left-most
    blocked[:, :4] = True
    assert largest_free_rect(blocked, 1.0, 1) == (6, 0, 4, 4)
    assert largest_free_rect(blocked, 1.0, 5) is None
    boxes = [[100, 50, 80, 200], [10, 10, 20, 20]]
    crops = plate_boxes(400, 300, boxes, (40, 30), margin=0.1, per_image=3, min_frac=0.1)
    assert crops
    for x, y, w, h in crops:
        assert abs(w / h - 4 / 3) < 0.2
        for bx, by, bw, bh in boxes:
            g = 0.1 * max(bw, bh)
            assert x + w <= bx - g or x >= bx + bw + g or y + h <= by - g or y >= by + bh + g


def test_plates_from_exposed_only_never_hold_a_box(tmp_path):
    imgs = tmp_path / "images"
    imgs.mkdir()
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "bottle"}, {"id": 2, "name": "cup"}]}
    for i in range(1, 5):
        Image.new("RGB", (200, 160), (i * 40, 90, 90)).save(imgs / f"im{i}.jpg")
        coco["images"].append({"id": i, "file_name": f"im{i}.jpg", "width": 200, "height": 160})
        coco["annotations"] += [{"id": 2 * i, "image_id": i, "category_id": 1, "bbox": [20, 20, 40, 100]},
                                {"id": 2 * i + 1, "image_id": i, "category_id": 2, "bbox": [150, 100, 30, 30]}]
    (tmp_path / "c.json").write_text(json.dumps(coco))
    (tmp_path / "split.json").write_text(json.dumps({"exposed": [1, 2], "test": [3, 4]}))
    (imgs / "im3.jpg").write_bytes(b"not an image")     # a test image is never opened
    rec = make_plates(str(tmp_path / "c.json"), str(imgs), str(tmp_path / "split.json"), str(tmp_path / "pl"),
                      (40, 30), per_image=2, min_frac=0.2)
    assert {p["source"] for p in rec["plates"]} <= {"im1.jpg", "im2.jpg"} and rec["rule"]["split"] == "exposed"
    for p in rec["plates"]:
        x, y, w, h = p["crop_xywh"]
        for bx, by, bw, bh in ([20, 20, 40, 100], [150, 100, 30, 30]):
            g = 0.1 * max(bw, bh)
            assert x + w <= bx - g or x >= bx + bw + g or y + h <= by - g or y >= by + bh + g
        assert Image.open(tmp_path / "pl" / p["file"]).size == (40, 30)
    assert (tmp_path / "pl" / "contact_sheet.jpg").exists() and (tmp_path / "pl" / "plates.json").exists()
    from render.config import photo_files
    listed = [p["file"] for p in rec["plates"]]
    assert [p.name for p in photo_files(tmp_path / "pl")] == sorted(listed)        # never the contact sheet
    (tmp_path / "pl" / listed[0]).unlink()                                          # a plate deleted by hand
    assert [p.name for p in photo_files(tmp_path / "pl")] == sorted(listed[1:])
    with pytest.raises(UserError, match="not empty"):
        make_plates(str(tmp_path / "c.json"), str(imgs), str(tmp_path / "split.json"), str(tmp_path / "pl"), (40, 30))


def test_plates_cli_errors_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "synthgap", "plates", str(tmp_path / "none.json"), "--images",
                        str(tmp_path), "--split", str(tmp_path / "s.json"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "s.json: split file not found" in p.stderr
    assert not (tmp_path / "o").exists()


def test_framing_keys_validated_and_old_names_kept():
    c = SceneConfig.from_mapping({"camera": {"target_u": [0.1, 0.9], "roll_deg": [-20, 20]}}, "x")
    assert c.camera.framed and SceneConfig.from_mapping(c.to_mapping(), "y") == c
    assert "target_u" not in SceneConfig().to_mapping()["camera"] and not SceneConfig().camera.framed
    assert "camera.target_v" in _err({"camera": {"target_v": [0.5, 1.2]}})
    assert "camera.roll_deg" in _err({"camera": {"roll_deg": [-200, 0]}})


def test_motion_blur_streaks_a_point_along_its_angle_and_keeps_old_names():
    img = np.zeros((41, 41, 3), np.uint8)
    img[20, 20] = 255
    flat = postfx.apply_effects(img, motion_px=9.0, motion_angle_deg=0.0)
    lit = np.argwhere(flat[..., 0] > 0)
    assert set(lit[:, 0]) <= {19, 20, 21} and lit[:, 1].max() - lit[:, 1].min() >= 7       # a horizontal streak
    up = np.argwhere(postfx.apply_effects(img, motion_px=9.0, motion_angle_deg=90.0)[..., 0] > 0)
    assert up[:, 0].max() - up[:, 0].min() >= 7 and set(up[:, 1]) <= {19, 20, 21}          # a vertical one
    k = postfx.motion_kernel(7.5, 33.0)
    assert abs(k.sum() - 1.0) < 1e-9 and k.shape == (9, 9)
    assert postfx.apply_effects(img, motion_px=0.5) is img                                  # under a pixel: off
    fx = SceneConfig.from_mapping({"effects": {"noise_sigma": [1, 3]}})
    assert "motion_px" not in fx.to_mapping()["effects"]             # unset: the config keeps its old name
    mo = SceneConfig.from_mapping({"effects": {"noise_sigma": [1, 3], "motion_px": [2, 6]}})
    assert mo.to_mapping()["effects"]["motion_px"] == [2.0, 6.0] and mo.name != fx.name
    assert SceneConfig.from_mapping(mo.to_mapping()) == mo
    rng = np.random.default_rng(0)
    drawn = postfx.sample_effects(mo.effects, rng)
    assert 2.0 <= drawn["motion_px"] <= 6.0 and 0.0 <= drawn["motion_angle_deg"] < 180.0
    assert "motion_px" not in postfx.sample_effects(fx.effects, rng)   # not drawn: older scenes stay the same


def test_samples_as_a_range_draw_one_count_per_scene():
    c = SceneConfig.from_mapping({"samples": [4, 32], "denoiser": "fast"})
    counts = [c.samples_for(seed) for seed in range(200)]
    assert min(counts) >= 4 and max(counts) <= 32 and len(set(counts)) > 15
    assert counts == [c.samples_for(seed) for seed in range(200)]                 # seeded
    assert SceneConfig.from_mapping({"samples": [16, 16]}) == SceneConfig()         # one count is the int form
    assert SceneConfig.from_mapping(c.to_mapping()) == c and c.to_mapping()["samples"] == [4, 32]
    assert SceneConfig().samples_for(3) == 16
    for bad, words in (([0, 8], ">= 1"), ([8, 4], "empty range"), ([4, 5000], "<= 4096"), ("x", "integer")):
        msg = _err({"samples": bad})
        assert "key 'samples'" in msg and words in msg, msg


def test_clutter_and_materials_keys_keep_old_names():
    plain = SceneConfig.from_mapping({"denoiser": "none"})
    assert "clutter" not in plain.to_mapping() and "materials" not in plain.to_mapping()
    c = SceneConfig.from_mapping({"clutter": {"count": [2, 5], "occlude": 0.3},
                                  "materials": {"value": [0.7, 1.3], "roughness": [0.1, 0.9]}})
    assert c.to_mapping()["clutter"] == {"count": [2, 5], "occlude": 0.3}
    assert c.to_mapping()["materials"]["roughness"] == [0.1, 0.9] and SceneConfig.from_mapping(c.to_mapping()) == c
    assert SceneConfig().materials.roughness == () and c.name != SceneConfig().name


def test_the_runs_photo_like_look_is_the_ladders_best_step(photo_dir):
    """`synthgap run`'s photo-like sets use the realism ladder's photo-full step (one definition, postfx)."""
    base = {"camera": {"distance": [1, 2]}, "distractors": [0, 2]}
    fx = postfx.photo_like(base, photo_dir)
    full = postfx.photo_like(base, photo_dir, full=True)
    assert "clutter" not in fx and "motion_px" not in fx["effects"]
    assert full["clutter"] == {"count": [2, 5], "occlude": 0.3} and full["materials"]["roughness"] == [0.1, 0.8]
    assert full["effects"] == {**fx["effects"], "motion_px": [0, 2]} and full["background"] == fx["background"]
    c = SceneConfig.from_mapping(full, "x")
    assert c.clutter.count == (2, 5) and c.effects.motion_px == (0.0, 2.0) and c.background.kind == "photo"
    assert base == {"camera": {"distance": [1, 2]}, "distractors": [0, 2]}           # the input left as it was
