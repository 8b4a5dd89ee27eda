"""Assets: the Sweet Home 3D importer on the real Debian package, manifest validation (every kind of bad
entry, at load time and in `synthgap assets check`), tiny renders per class (bbox + sidecar class/asset id +
attribution), and `surface` layouts whose objects' lowest points lie on their support plane.

Needs the Debian package `sweethome3d-furniture` and the asset cache (scripts/setup.sh installs both); the
tests that need them skip with a reason when they are missing. Renders are 64x48 with 4 samples.
"""
import hashlib
import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from render import assets_cli
from render import sweethome3d as sh
from render.manifest import (COCO_CLASSES, LICENCES, ManifestError, attribution, load_manifest, parse_manifest,
                             sha256_file)

REPO = Path(__file__).resolve().parent.parent
ISSUE_CLASSES = ["chair", "dining table", "cup", "bottle"]


# ---- fixtures / skips --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def furniture():
    d = sh.DEFAULT_FURNITURE_DIR
    if not sorted(d.glob("*.sh3f")):
        pytest.skip(f"Debian package sweethome3d-furniture not installed ({d}/*.sh3f missing; scripts/setup.sh)")
    return d


@pytest.fixture(scope="module")
def pieces(furniture):
    return sh.read_all(furniture)


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


@pytest.fixture(scope="module")
def asset_cache(manifest):
    missing = [a.id for a in manifest.assets if not a.is_primitive and not a.resolved_path().exists()]
    if missing:
        pytest.skip(f"asset cache incomplete ({len(missing)} files missing, e.g. {missing[0]}): run scripts/setup.sh")
    return True


@pytest.fixture(scope="module")
def render_env():
    from core.envs import render_python

    try:
        return render_python()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"render environment missing: {e}")


def _run_probe(render_env, *args, timeout=120) -> dict:
    from core.envs import subprocess_env

    p = subprocess.run([str(render_env), "-m", "render.assets_probe", *args], cwd=REPO, capture_output=True,
                       text=True, env=subprocess_env(), timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and lines, p.stdout[-2000:] + p.stderr[-2000:]
    return json.loads(lines[-1])


# ---- importer: the explicit class table, reviewed --------------------------------------------------
# A mapped piece's catalogue name must say what its class is, and its catalogue height must be typical.
_NAME_RE = {"bottle": r"bottle|flacon", "cup": r"cup|mug|glass", "wine glass": r"glass", "chair": r"chair",
            "dining table": r"table"}
_HEIGHT_CM = {"bottle": (5, 35), "cup": (3, 20), "wine glass": (8, 25), "chair": (70, 120),
              "dining table": (68, 80)}


def test_class_table_is_reviewed(pieces):
    assert set(sh.CLASS_TABLE.values()) <= set(COCO_CLASSES)
    assert not set(sh.CLASS_TABLE) & set(sh.EXCLUDED), "an id is both mapped and excluded"
    for cat_id in list(sh.CLASS_TABLE) + list(sh.EXCLUDED):
        assert cat_id in pieces, f"{cat_id} is in no installed *.sh3f"
    for cat_id, cls in sh.CLASS_TABLE.items():
        p = pieces[cat_id]
        assert re.search(_NAME_RE[cls], p.name, re.I), f"{cat_id} ({p.name!r}) mapped to {cls!r}"
        lo, hi = _HEIGHT_CM[cls]
        assert lo <= p.height <= hi, f"{cat_id} ({p.name!r}) is {p.height} cm high: not a typical {cls}"
        assert p.library in sh.LIBRARIES, f"{cat_id}: library {p.library} has no licence in LIBRARIES"
    for cls in ISSUE_CLASSES:
        assert sum(c == cls for c in sh.CLASS_TABLE.values()) >= 5, cls
    # nothing the table does not list becomes an asset: select() takes the table's pieces only, in order
    chosen = sh.select(pieces, ["cup"], max_per_class=2)
    assert [p.cat_id for p, _ in chosen] == [k for k, c in sh.CLASS_TABLE.items() if c == "cup"][:2]
    with pytest.raises(ValueError, match="no Sweet Home 3D models"):
        sh.select(pieces, ["giraffe"])


def test_properties_and_rotation():
    props = sh.parse_properties("# c\nid#1=A\\u00e9\nname#1=long \\\n  name\nwidth#1 = 4.5\n")
    assert props == {"id#1": "A\u00e9", "name#1": "long name", "width#1": "4.5"}
    # modelRotation (Y-up) -> Blender XYZ Euler after the importer's Y-up -> Z-up conversion C:
    # R_blender @ C @ p == C @ M @ p for every point p
    from render.scene_assets import euler_matrix

    c = np.array(sh._C)
    rng = np.random.default_rng(0)
    for m in [(1, 0, 0, 0, 0, 1, 0, -1, 0), (0, 0, -1, 0, 1, 0, 1, 0, 0), (0, 0, 1, 0, 1, 0, -1, 0, 0)]:
        mm = np.array(m, dtype=float).reshape(3, 3)
        r = euler_matrix([math.radians(a) for a in sh.blender_rotation(m)])
        p = rng.normal(size=(3, 5))
        np.testing.assert_allclose(r @ c @ p, c @ mm @ p, atol=1e-6)
    # a turn about Sweet Home 3D's vertical axis is a yaw in Blender
    rx, ry, _ = sh.blender_rotation((0, 0, -1, 0, 1, 0, 1, 0, 0))
    assert rx == 0 and ry == 0
    assert sh.blender_rotation(None) == (0.0, 0.0, 0.0)


def test_import_sweethome3d_cli(furniture, manifest, tmp_path, monkeypatch, capsys):
    """`synthgap assets import-sweethome3d` on the real package: a few models extracted into a fresh cache,
    their entries written to a manifest, identical to the repo manifest's entries for the same models."""
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path / "cache"))
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"version": 1, "assets": [
        {"id": "prim-cup", "class": "cup", "kind": "mesh", "format": "primitive", "path": "cylinder",
         "size_cm": [9, 9, 10], "licence": "CC0-1.0", "author": "synthgap"}]}))
    rc = assets_cli.main(["import-sweethome3d", "--classes", ",".join(ISSUE_CLASSES), "--max-per-class", "2",
                          "--manifest", str(m)])
    assert rc == 0
    assert "10 added, 0 replaced" in capsys.readouterr().out  # 8 meshes + 2 floor textures
    got = load_manifest(m)
    meshes = [a for a in got.assets if a.kind == "mesh" and not a.is_primitive]
    assert sorted(a.cls for a in meshes) == sorted(ISSUE_CLASSES * 2)
    assert len(got.backgrounds("floor_texture")) == 2
    repo = {a.id: a for a in manifest.assets}
    for a in meshes + got.backgrounds("floor_texture"):
        p = a.resolved_path()
        assert str(p).startswith(str(tmp_path / "cache" / "assets" / "sweethome3d")), p
        assert p.stat().st_size > 0 and sha256_file(p) == a.sha256
        assert a.licence in LICENCES and a.author and a.source.startswith("Debian sweethome3d-furniture")
        if a.kind == "mesh":
            assert assets_cli.obj_dependency_problems(p) == [], a.id  # MTL + textures extracted beside it
            assert a.size_cm and all(s > 0 for s in a.size_cm)
        if a.id in repo:  # deterministic: the committed manifest says the same
            r = repo[a.id]
            assert (a.cls, a.size_cm, a.rotation_deg, a.sha256, a.licence, a.path) == \
                (r.cls, r.size_cm, r.rotation_deg, r.sha256, r.licence, r.path), a.id
    # a second import replaces, never duplicates
    assert assets_cli.main(["import-sweethome3d", "--classes", "cup", "--max-per-class", "1", "--manifest", str(m),
                            "--no-floor-textures"]) == 0
    assert "0 added, 1 replaced" in capsys.readouterr().out
    assert len(load_manifest(m).assets) == len(got.assets)


def test_repo_manifest_matches_class_table(manifest):
    """Every Sweet Home 3D mesh of the manifest comes from a CLASS_TABLE piece of the same class; every
    class has real meshes; HDRIs are CC0 Poly Haven."""
    for a in manifest.meshes(include_primitives=False):
        if a.id.startswith("sh3d-"):
            cat_id = re.search(r"\.sh3f, (.+?#\S+) \(", a.source).group(1)
            assert sh.CLASS_TABLE.get(cat_id) == a.cls, f"{a.id}: {cat_id} is not mapped to {a.cls!r}"
    for cls in ISSUE_CLASSES:
        assert manifest.meshes([cls], include_primitives=False), cls
    hdris = manifest.backgrounds("hdri")
    assert len(hdris) >= 4 and all(h.licence == "CC0-1.0" and "Poly Haven" in h.author for h in hdris)


def test_clutter_rule_keeps_targets_and_lookalikes_out(pieces, manifest):
    """Clutter = the small catalogue pieces that are no class and look like none (render/sweethome3d.py); the
    manifest's Sweet Home 3D clutter is exactly that list, without a class, so never a category."""
    keep, out = sh.clutter_split(pieces)
    assert len(keep) >= 100
    for p in keep:
        assert p.cat_id not in sh.CLASS_TABLE and p.cat_id not in sh.EXCLUDED, p.cat_id
        assert max(p.width, p.depth, p.height) <= sh.CLUTTER_MAX_CM and p.height >= sh.CLUTTER_MIN_CM, p.cat_id
        assert not re.search(r"bottle|cup|glass|mug|vase|jar|flacon|chair|table|stool", f"{p.name} {p.cat_id}",
                             re.I), (p.cat_id, p.name)
    for name in ("Wine bottle", "Coffee mug", "Vase", "Flacon", "Medicine bottle", "White lily"):
        ids = [k for k, p in pieces.items() if p.name == name]
        assert ids and not set(ids) & {p.cat_id for p in keep}, name
    assert out["Scopia#vase1"].startswith("looks like a target") and out["Scopia#wine_bottle"] == "a class model"
    in_manifest = {re.search(r"\.sh3f, (.+?#\S+) \(", a.source).group(1) for a in manifest.clutter()
                   if a.id.startswith("sh3d-")}
    assert in_manifest == {p.cat_id for p in keep}
    assert all(a.cls is None and a.size_cm for a in manifest.backgrounds("clutter"))
    assert set(manifest.class_names()) == set(ISSUE_CLASSES)        # clutter adds no category


# ---- manifest validation: each kind of bad entry ---------------------------------------------------
_GOOD = {"id": "x-bottle", "class": "bottle", "kind": "mesh", "format": "obj", "path": "cache:m/x.obj",
         "size_cm": [7, 7, 30], "rotation_deg": [90, 0, 0], "licence": "CC0-1.0", "author": "someone",
         "sha256": "0" * 64}


@pytest.mark.parametrize("change, msg", [
    ({"licence": None}, "missing field 'licence'"),
    ({"licence": "GPL-3.0"}, "field 'licence' must be one of"),
    ({"author": ""}, "missing field 'author'"),
    ({"class": None}, "missing field 'class'"),
    ({"class": "sofa,cup"}, "field 'class' must be a name of 1-64 printable characters without commas"),
    ({"class": " widget"}, "field 'class' must be a name of 1-64"),
    ({"size_cm": None}, "missing field 'size_cm'"),
    ({"size_cm": [7, 7]}, "'size_cm' must be a list of 3 numbers"),
    ({"size_cm": [7, -7, 30]}, "'size_cm' must be > 0"),
    ({"rotation_deg": [0, "x", 0]}, "'rotation_deg' must be a list of 3 numbers"),
    ({"sha256": None}, "'sha256' must be 64 lowercase hex"),
    ({"sha256": "ABC"}, "'sha256' must be 64 lowercase hex"),
    ({"format": "3ds"}, "field 'format' must be one of"),
    ({"format": "fbx"}, "must end in .fbx"),
    ({"kind": "texture"}, "field 'kind' must be one of"),
    ({"path": "cache:m/x.ply"}, "must end in .obj"),
    ({"path": "../x.obj"}, "must not contain '..'"),
    ({"id": "Bad Id"}, "field 'id' must match"),
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"format": "primitive", "path": "torus"}, "must be one of cube, cylinder"),
    ({"kind": "hdri", "format": "exr", "path": "cache:hdri/a.exr"}, "'class' is only for meshes"),
    ({"kind": "clutter"}, "'class' is only for meshes"),
    ({"kind": "clutter", "class": None, "size_cm": None}, "missing field 'size_cm' (required for clutter)"),
])
def test_manifest_rejects_bad_entry(change, msg):
    raw = {k: v for k, v in {**_GOOD, **change}.items() if v is not None}
    with pytest.raises(ManifestError, match=re.escape(msg)) as ei:
        parse_manifest(Path("m.yaml"), {"version": 1, "assets": [raw]})
    assert str(ei.value).startswith("m.yaml: assets[0]") and "\n" not in str(ei.value)


def test_manifest_rejects_bad_structure():
    with pytest.raises(ManifestError, match="duplicate id"):
        parse_manifest(Path("m.yaml"), {"version": 1, "assets": [_GOOD, _GOOD]})
    with pytest.raises(ManifestError, match="version: must be 1"):
        parse_manifest(Path("m.yaml"), {"version": 2, "assets": [_GOOD]})
    with pytest.raises(ManifestError, match="non-empty list"):
        parse_manifest(Path("m.yaml"), {"version": 1, "assets": []})
    assert parse_manifest(Path("m.yaml"), {"version": 1, "assets": [_GOOD]}).class_names() == ["bottle"]
    own = {**_GOOD, "class": "hex key", "format": "glb", "path": "/parts/hex.glb", "licence": "own"}
    assert parse_manifest(Path("m.yaml"), {"version": 1, "assets": [_GOOD, {**own, "id": "own-hex"}]}).class_names() \
        == ["bottle", "hex key"]                        # any class name, any bpy-importable format


_CUBE = """mtllib {mtl}
usemtl m
v -0.5 0 -0.5\nv 0.5 0 -0.5\nv 0.5 0 0.5\nv -0.5 0 0.5
v -0.5 1 -0.5\nv 0.5 1 -0.5\nv 0.5 1 0.5\nv -0.5 1 0.5
vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1
f 1/1 2/2 3/3 4/4\nf 5/1 8/2 7/3 6/4\nf 1/1 5/2 6/3 2/4\nf 2/1 6/2 7/3 3/4\nf 3/1 7/2 8/3 4/4\nf 4/1 8/2 5/3 1/4
"""
_FLAT = "v 0 0 0\nv 1 0 0\nv 1 0 1\nv 0 0 1\nf 1 2 3 4\n"


def _bad_asset_dir(d: Path) -> list[dict]:
    """A manifest's worth of meshes: one good, and one per kind of problem `assets check` must report."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 30, 30)).save(d / "red.png")
    (d / "good.mtl").write_text("newmtl m\nKd 1 1 1\nmap_Kd red.png\n")
    (d / "notex.mtl").write_text("newmtl m\nKd 1 1 1\nmap_Kd missing.png\n")
    files = {"good.obj": _CUBE.format(mtl="good.mtl"), "tall.obj": _CUBE.format(mtl="good.mtl"),
             "notex.obj": _CUBE.format(mtl="notex.mtl"), "empty.obj": "", "flat.obj": _FLAT,
             "garbage.obj": "this is not a mesh\n", "changed.obj": _CUBE.format(mtl="good.mtl")}
    for n, t in files.items():
        (d / n).write_text(t)

    def e(i, f, size=(10, 10, 10), sha=None):
        return {"id": i, "class": "cup", "kind": "mesh", "format": "obj", "path": str(d / f),
                "size_cm": list(size), "licence": "CC0-1.0", "author": "test",
                "sha256": sha or (hashlib.sha256((d / f).read_bytes()).hexdigest() if (d / f).exists() else "1" * 64)}
    out = [e("good", "good.obj"), e("missing", "nope.obj"), e("empty", "empty.obj"),
           e("changed", "changed.obj", sha="2" * 64), e("notex", "notex.obj"), e("flat", "flat.obj"),
           e("garbage", "garbage.obj"), e("tall", "tall.obj", size=(10, 10, 60))]
    return out


_EXPECTED = {"missing": "missing", "empty": "is empty", "changed": "does not match", "notex": "texture missing.png missing",
             "flat": "degenerate mesh", "garbage": "does not load", "tall": "upright?"}


def test_check_reports_each_problem_once(tmp_path, capsys, render_env):
    """`synthgap assets check` (files + render-environment load): exit 1, one line per bad entry naming it."""
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"version": 1, "assets": _bad_asset_dir(tmp_path / "a")}))
    rc = assets_cli.main(["check", "--manifest", str(m)])
    out, err = capsys.readouterr()
    assert rc == 1
    lines = err.strip().splitlines()
    assert lines[-1] == f"{len(_EXPECTED)} problem(s) in 8 entries"
    problems = lines[:-1]
    assert len(problems) == len(_EXPECTED), err
    for aid, what in _EXPECTED.items():
        hit = [ln for ln in problems if f": asset {aid}:" in ln]
        assert len(hit) == 1 and what in hit[0], (aid, hit)
    assert not any(": asset good:" in ln for ln in problems)
    assert "cup" in out.splitlines()[2]  # the per-class table is printed too
    # the same manifest with only the good entry passes
    assert assets_cli.main(["check", "--manifest", str(m), "--ids", "good"]) == 0


def test_repo_manifest_check_passes(asset_cache, render_env, capsys):
    """The committed manifest: every file, checksum, licence, class and render-env load holds."""
    rc = assets_cli.main(["check"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    table = out.splitlines()
    assert table[0].split()[:3] == ["class", "meshes", "primitives"]
    for cls in ISSUE_CLASSES:
        row = next(ln for ln in table if ln.startswith(cls + " "))
        assert int(row[len(cls):].split()[0]) >= 5 and "real" in row


def test_attribution_lists_every_asset(manifest):
    ids = ["sh3d-bs0-chair", "sh3d-scopia-chair", "hdri-apartment"]
    a = attribution(manifest, ids)
    assert [x["asset_id"] for x in a["assets"]] == sorted(ids)
    by = {x["asset_id"]: x for x in a["assets"]}
    assert by["sh3d-scopia-chair"]["attribution_required"] and not by["hdri-apartment"]["attribution_required"]
    assert {lic["spdx"] for lic in a["licenses"]} == {"CC0-1.0", "CC-BY-3.0"}
    for i in ids:
        assert i in a["text"]
    with pytest.raises(KeyError):
        attribution(manifest, ["no-such-asset"])


# ---- Blender side: layouts and tiny renders ---------------------------------------------------------
_LAYOUT_IDS = ["sh3d-scopia-round-table", "sh3d-kl-glass-dining-table", "sh3d-kl-coffee-mug", "sh3d-bs0-plastic-cup",
               "sh3d-kl-red-wine-bottle-01", "sh3d-scopia-cup", "sh3d-bs0-yogurt-bottle", "sh3d-bs0-chair",
               "sh3d-scopia-chair"]


def test_surface_layout_lowest_point_on_support(asset_cache, render_env):
    """layout_surface in the render environment (real meshes, 3 seeds): every object's lowest vertex lies on
    its support plane (floor z = 0 or the table top), yaw only, small items on a table stand inside its top,
    footprints on one support do not overlap. Floating: free rotations, above the floor."""
    res = _run_probe(render_env, "layout", "--ids", ",".join(_LAYOUT_IDS), "--seeds", "0,1,2")
    on_table = 0
    for run in res["runs"]:
        for o in run["objects"]:
            assert abs(o["min_z"] - o["support_z"]) < 1e-4, (run["seed"], o)
            assert o["rotation"][0] == 0 and o["rotation"][1] == 0, o
            if o["support"] == "floor":
                assert o["support_z"] == 0
            else:
                on_table += 1
                assert 0.6 < o["support_z"] < 0.85 and o["class"] in ("cup", "bottle"), o
                assert o["inset_m"] >= o["radius"] - 1e-6, o  # the footprint disc is inside the top
        assert all(v >= -1e-9 for v in run["clearance_m"].values()), run["clearance_m"]
    assert on_table >= 6  # the tables carry most small items
    res = _run_probe(render_env, "layout", "--ids", ",".join(_LAYOUT_IDS[2:6]), "--seeds", "3",
                     "--placement", "floating")
    objs = res["runs"][0]["objects"]
    assert all(o["min_z"] > -1e-6 for o in objs)
    assert any(abs(r) > 1e-3 for o in objs for r in o["rotation"][:2])


_BASE = {"resolution": [64, 48], "samples": 4, "objects_per_scene": [1, 1], "distractors": [0, 0],
         "lights": {"count": [2, 2], "energy": [150, 250]}, "seed": 11}
_PER_CLASS = {
    "bottle": {"placement": "surface", "background": {"kind": "color"},
               "camera": {"distance": [0.7, 0.8], "elevation_deg": [15, 30]}},
    "cup": {"placement": "floating", "background": {"kind": "hdri"},
            "camera": {"distance": [0.45, 0.55], "elevation_deg": [15, 30]}},
    "chair": {"placement": "surface", "background": {"kind": "floor"},
              "camera": {"distance": [2.6, 2.8], "elevation_deg": [15, 30]}},
    "dining table": {"placement": "surface", "background": {"kind": "hdri"},
                     "camera": {"distance": [3.3, 3.5], "elevation_deg": [20, 35]}},
}
_CROWD = {**_BASE, "classes": ["cup", "bottle"], "objects_per_scene": [3, 4], "distractors": [2, 3],
          "placement": "surface", "background": {"kind": "floor"},
          "camera": {"distance": [1.6, 2.0], "elevation_deg": [25, 40]}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, asset_cache, render_env):
    """One render job: one scene per class (one object, no distractors), then 3 crowded surface scenes."""
    from render.api import render_dataset

    entries = [{"config": {**_BASE, "classes": [c], **over}, "count": 1} for c, over in _PER_CLASS.items()]
    entries.append({"config": _CROWD, "count": 3})
    out = tmp_path_factory.mktemp("assets_render") / "ds"
    render_dataset({"entries": entries}, None, out, workers=1, progress=False)
    coco = json.loads((out / "coco_annotations.json").read_text())
    side = json.loads((out / "sidecar.json").read_text())
    return out, coco, side


@pytest.mark.render
def test_tiny_render_per_class(rendered, manifest):
    out, coco, side = rendered
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    for k, cls in enumerate(_PER_CLASS, start=1):
        img = side["images"][str(k)]
        anns = [a for a in coco["annotations"] if a["image_id"] == k]
        assert len(anns) == 1, (cls, img)
        a = anns[0]
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and a["area"] > 0, (cls, a["bbox"])
        assert cats[a["category_id"]] == cls
        s = side["annotations"][str(a["id"])]
        assert s["class"] == cls
        assert s["asset_id"] in {e.id for e in manifest.meshes([cls], include_primitives=False)}, s["asset_id"]
        assert s["asset_id"] in img["asset_ids"]
        assert img["background_kind"] == _PER_CLASS[cls]["background"]["kind"]
        assert [p["asset_id"] for p in img["placement"]] == [s["asset_id"]]
        assert (out / coco["images"][k - 1]["file_name"]).stat().st_size > 0
    # backgrounds from the manifest: HDRI and floor ids are manifest entries
    assert side["images"]["2"]["background_id"] in {e.id for e in manifest.backgrounds("hdri")}
    assert side["images"]["3"]["background_id"] in {e.id for e in manifest.backgrounds("floor_texture")}


@pytest.mark.render
def test_render_surface_objects_on_support_plane(rendered):
    _, coco, side = rendered
    n_checked = 0
    for iid, img in side["images"].items():
        for p in img["placement"]:
            if p["support"] == "free":
                continue
            n_checked += 1
            assert abs(p["min_z"] - p["support_z"]) < 1e-4, (iid, p)
    assert n_checked >= 12
    crowded = [side["images"][str(i)] for i in (5, 6, 7)]
    assert all(sum(not p["annotated"] for p in img["placement"]) >= 2 for img in crowded)  # distractors
    assert all(sum(p["annotated"] for p in img["placement"]) >= 3 for img in crowded)      # several instances
    ann_assets = {side["annotations"][str(a["id"])]["asset_id"] for a in coco["annotations"]}
    distractor_assets = {p["asset_id"] for img in crowded for p in img["placement"] if not p["annotated"]}
    assert not {p["class"] for img in crowded for p in img["placement"] if not p["annotated"]} & {"cup", "bottle"}
    assert distractor_assets and ann_assets


@pytest.mark.render
def test_dataset_carries_attribution(rendered, manifest):
    """COCO info.licenses lists every asset any image used (meshes, distractors, HDRIs, floor textures)
    with its licence and author."""
    _, coco, side = rendered
    used = set()
    for img in side["images"].values():
        used |= set(img["asset_ids"])
    lic = {x["asset_id"]: x for x in coco["info"]["licenses"]}
    assert used and set(lic) == used
    for aid, x in lic.items():
        e = manifest.by_id(aid)
        assert x["licence"] == e.licence in LICENCES and x["author"] == e.author


@pytest.mark.render
def test_licenses_txt_from_dataset(rendered, tmp_path, capsys):
    """`synthgap assets licenses DIR` turns info.licenses into LICENSES.txt: every asset, grouped by licence."""
    out, coco, _ = rendered
    (tmp_path / "coco_annotations.json").write_text(json.dumps(coco))
    assert assets_cli.main(["licenses", str(tmp_path)]) == 0
    text = (tmp_path / "LICENSES.txt").read_text()
    for x in coco["info"]["licenses"]:
        assert f"- {x['asset_id']} (" in text and x["author"] in text
    for spdx in {x["licence"] for x in coco["info"]["licenses"]}:
        assert f"== {spdx}: " in text
    (tmp_path / "coco_annotations.json").write_text(json.dumps({"info": {}, "images": []}))
    with pytest.raises(Exception, match="no info.licenses"):
        assets_cli.main(["licenses", str(tmp_path)])
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.render
def test_every_mesh_renders(tmp_path, asset_cache, render_env, manifest):
    """Slow: every real mesh of the issue's classes appears in a render (many scenes per class)."""
    from render.api import render_dataset

    entries = [{"config": {**_BASE, "classes": [c], **over, "seed": 1}, "count": 24} for c, over in _PER_CLASS.items()]
    out = render_dataset({"entries": entries}, None, tmp_path / "ds", workers=1, progress=False)
    coco = json.loads((out / "coco_annotations.json").read_text())
    side = json.loads((out / "sidecar.json").read_text())
    seen = {side["annotations"][str(a["id"])]["asset_id"] for a in coco["annotations"] if a["bbox"][2] > 0}
    for c in _PER_CLASS:
        ids = {e.id for e in manifest.meshes([c], include_primitives=False)}
        assert len(seen & ids) >= len(ids) // 2, (c, sorted(ids - seen))
    assert os.path.exists(out / "DONE")
