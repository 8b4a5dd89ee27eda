"""A user's own objects and labels (issue 23): `synthgap assets add` on meshes Blender's own exporters wrote in
every format it takes, the one-line refusals (a format bpy cannot import, a file it cannot read, a size in the
wrong units) that leave the manifest byte-identical, and a new class end to end: a glb and a ply of class
`widget` added, a YOLO-labelled real set written by the test, `synthgap split` and `synthgap run` taking its
data.yaml directly, through to a report and a detector that name the class.

Renders are 64x48 with 4 samples; the run trains yolo for one epoch at 64 px.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import UserError

pytestmark = pytest.mark.render

REPO = Path(__file__).resolve().parent.parent
SEED_MANIFEST = {"version": 1, "assets": [{"id": "prim-clutter-cube", "kind": "clutter", "format": "primitive",
                                           "path": "cube", "size_cm": [6, 6, 6], "licence": "CC0-1.0",
                                           "author": "synthgap"}]}
SCENE = {"resolution": [64, 48], "samples": 4, "denoiser": "none", "objects_per_scene": [1, 1],
         "classes": ["widget"], "distractors": [0, 0], "placement": "surface",
         "lights": {"count": [1, 1], "energy": [300, 600]}, "background": {"kind": "color"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory, render_python):
    """Meshes in every format (a textured 4 x 2 x 1 box, an untextured cylinder of radius 0.5, height 3), a
    manifest holding one primitive clutter cube, and an environment pointing the renderer at both."""
    root = tmp_path_factory.mktemp("own")
    for kind, d in (("box", root / "box"), ("cylinder", root / "cyl")):
        r = subprocess.run([str(render_python), str(REPO / "tests" / "make_meshes.py"), str(d), "--kind", kind],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
    (root / "manifest.yaml").write_text(yaml.safe_dump(SEED_MANIFEST))
    env = dict(os.environ, PYTHONPATH=str(REPO), SYNTHGAP_MANIFEST=str(root / "manifest.yaml"),
               SYNTHGAP_CACHE=str(root / "cache"), PYTHONUNBUFFERED="1")
    return root, env


def _synthgap(env, *argv, timeout=600):
    return subprocess.run([sys.executable, "-m", "synthgap", *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_every_format_loads_upright_at_its_extent(world, render_python):
    """obj, ply, stl, glb, gltf, fbx, blend: the renderer's loader gives back Blender's extents, in one
    render-environment process (what `assets add` sizes an entry from); the box keeps its texture."""
    root, env = world
    files = [root / "box" / f"box.{f}" for f in ("obj", "ply", "stl", "glb", "gltf", "fbx", "blend")]
    code = ("import json, sys; from pathlib import Path; from render.assets_probe import _bproc, probe_bounds; "
            "b = _bproc(); print('\\n' + json.dumps({f: probe_bounds(b, Path(f), f.rsplit('.', 1)[1], [0, 0, 0]) "
            "for f in sys.argv[1:]})); sys.stdout.flush(); import os; os._exit(0)")
    r = subprocess.run([str(render_python), "-c", code, *map(str, files)], env=env, capture_output=True,
                       text=True, timeout=300)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for f in files:
        info = res[str(f)]
        assert info["ok"], (f.name, info)
        assert info["extent_m"] == pytest.approx([4.0, 2.0, 1.0], abs=1e-4), f.name
        if f.suffix in (".obj", ".glb", ".gltf", ".fbx", ".blend"):
            assert info["textures"] and not info["textures_missing"], f.name
    from render.assets_add import rotation_for
    assert rotation_for("ply", "Y") == (90.0, 0.0, 0.0) and rotation_for("glb", "Z") == (-90.0, 0.0, 0.0)
    assert rotation_for("glb", "auto") == rotation_for("stl", "auto") == (0.0, 0.0, 0.0)


def test_assets_add_sizes_entries_and_refuses_bad_meshes_in_one_line(world):
    root, env = world
    manifest = root / "manifest.yaml"
    r = _synthgap(env, "assets", "add", root / "box" / "box.glb", "--class", "widget", "--height", "0.08", "--copy",
                  "--id", "own-widget-box")
    assert r.returncode == 0, r.stderr
    r = _synthgap(env, "assets", "add", root / "cyl" / "cylinder.ply", "--class", "widget", "--height", "0.12",
                  "--id", "own-widget-cyl")
    assert r.returncode == 0 and "a neutral material" in r.stdout, r.stdout + r.stderr
    entries = {e["id"]: e for e in yaml.safe_load(manifest.read_text())["assets"]}
    box, cyl = entries["own-widget-box"], entries["own-widget-cyl"]
    assert box["size_cm"] == pytest.approx([32, 16, 8]) and cyl["size_cm"] == pytest.approx([4, 4, 12])
    assert box["path"] == "cache:own/own-widget-box/box.glb" and (root / "cache/assets/own/own-widget-box/box.glb").is_file()
    assert cyl["path"] == str((root / "cyl" / "cylinder.ply").resolve()) and cyl["licence"] == "own"
    assert box["sha256"] == _sha(root / "box" / "box.glb") and box["class"] == "widget"
    r = _synthgap(env, "assets", "check")
    assert r.returncode == 0 and "own-widget-box" in r.stdout and "32.0 x 16.0 x 8.0 cm" in r.stdout, r.stderr

    before = _sha(manifest)
    (root / "broken.glb").write_bytes(b"glTF not really")
    (root / "part.3ds").write_bytes(b"\0" * 16)
    stl = root / "box" / "box.stl"
    for args, msg in [
        ((root / "part.3ds", "--class", "widget", "--height", "0.1"), "format .3ds is not one bpy 4.2 imports"),
        ((root / "broken.glb", "--class", "widget", "--height", "0.1"), "bpy 4.2 could not import it as .glb"),
        ((stl, "--class", "widget", "--scale", "10"), "is it in millimetres"),       # 40 m across
        ((stl, "--class", "a,b", "--height", "0.1"), "--class: 'a,b'"),
        ((root / "box" / "box.glb", "--class", "widget", "--height", "0.1"), "already exists"),
    ]:
        extra = () if msg == "already exists" else ("--id", "own-x")
        r = _synthgap(env, "assets", "add", *args, *(extra or ("--id", "own-widget-box")))
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (msg, r.stderr)
        assert _sha(manifest) == before, msg       # nothing half-written
    assert not list(root.glob(".manifest.yaml.add-*"))
    from render.assets_add import size_cm
    with pytest.raises(UserError, match="millimetres"):
        size_cm([40.0, 20.0, 10.0], None, 1.0, Path("part_mm.stl"))     # a 40 mm part left in mm: 40 m


def _write_yolo_set(coco_dir: Path, out: Path) -> Path:
    """A YOLO data.yaml + images/ + labels/ from a rendered COCO set, the labels written here by hand."""
    coco = json.loads((coco_dir / "coco_annotations.json").read_text())
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a["bbox"])
    for im in coco["images"]:
        name = Path(im["file_name"]).name
        (out / "images" / name).write_bytes((coco_dir / im["file_name"]).read_bytes())
        w, h = im["width"], im["height"]
        lines = [f"0 {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}"
                 for x, y, bw, bh in by_image.get(im["id"], [])]
        (out / "labels" / Path(name).with_suffix(".txt")).write_text("\n".join(lines) + "\n")
    (out / "data.yaml").write_text("path: .\ntrain: images\nnames:\n  0: widget\n")
    return out / "data.yaml"


def test_a_new_class_from_mesh_files_and_yolo_labels_to_a_report(world):
    """glb + ply of class `widget` (added above or here), 8 'photos' rendered from them with YOLO labels,
    `split` and `run` on the data.yaml itself: the class runs through render, fit, selection, a detector and the
    report without a line of code naming it."""
    root, env = world
    manifest = yaml.safe_load((root / "manifest.yaml").read_text())
    if not any(e.get("class") == "widget" for e in manifest["assets"]):
        for mesh, h in ((root / "box" / "box.glb", "0.08"), (root / "cyl" / "cylinder.ply", "0.12")):
            assert _synthgap(env, "assets", "add", mesh, "--class", "widget", "--height", h).returncode == 0
    (root / "photos.yaml").write_text(yaml.safe_dump({**SCENE, "camera": {"distance": [0.5, 0.7],
                                                                          "elevation_deg": [10, 30]}, "seed": 41}))
    r = _synthgap(env, "render", "--config", root / "photos.yaml", "--n", 8, "--out", root / "rendered", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    data_yaml = _write_yolo_set(root / "rendered", root / "photos")
    r = _synthgap(env, "split", data_yaml, "--exposed", 4, "--out", root / "split.json")
    assert r.returncode == 0, r.stderr
    (root / "grid.yaml").write_text(yaml.safe_dump({**SCENE, "camera": {
        "distance": {"grid": [[0.5, 0.7], [1.6, 2.0]]}, "elevation_deg": [10, 30]}, "seed": 0}))
    r = _synthgap(env, "run", "--real", data_yaml, "--split", root / "split.json", "--grid", root / "grid.yaml",
                  "--out", root / "run", "--total", 4, "--probe-n", 4, "--probe-max", 4, "--min-px", 4,
                  "--selectors", "mixture", "--variants", "baseline", "--detectors", "yolo", "--epochs", 1,
                  "--imgsz", 64, "--bench-variants", "aligned", timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "aligning and benchmarking 'widget'" in r.stderr + r.stdout
    report = (root / "run" / "report.md").read_text()
    assert "category widget" in report and "Recommended set" in report and f"Target: `{data_yaml}` (read as" in report
    sets = json.loads((root / "run" / "sets" / "aligned" / "coco_annotations.json").read_text())
    assert [c["name"] for c in sets["categories"]] == ["widget"] and sets["annotations"]
    used = {a["asset_id"] for a in sets["info"]["licenses"]}
    assert used & {e["id"] for e in yaml.safe_load((root / "manifest.yaml").read_text())["assets"]
                   if e.get("class") == "widget"}
    results = list((root / "run" / "benchmark").rglob("*.json"))
    assert any("widget" in p.read_text() for p in results)         # the detector's classes name it
