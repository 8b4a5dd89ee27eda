"""Render-environment probes for manifest meshes (run as a subprocess of the main env):

    python -m render.assets_probe load   --manifest M [--ids a,b]   -> JSON per mesh: loads? bounds? textures?
    python -m render.assets_probe bounds --file F --format glb [--rotation 90,0,0]
                                                               -> JSON: one file's extent in its own units
    python -m render.assets_probe layout --manifest M --ids a,b,... --seeds 0,1 [--placement surface]
                                                               -> JSON per seed and object: min z vs its
                                                                  support plane, table-top inset, clearances

`synthgap assets check` uses `load`, `synthgap assets add` uses `bounds` then `load`; tests/test_assets.py uses `layout`. Prints one JSON object on
stdout's last line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _bproc():
    from render.bproc_compat import import_blenderproc

    bproc = import_blenderproc()
    bproc.init()
    return bproc


def probe_load(bproc, manifest, ids: list[str] | None) -> dict:
    from render import scene_assets as sa

    out = {}
    for e in manifest.assets:
        if e.kind != "mesh" or e.is_primitive or (ids and e.id not in ids):
            continue
        bproc.clean_up()
        try:
            obj = sa.load_mesh_entry(bproc, e, name=f"probe_{e.id}")
            out[e.id] = describe(obj)
        except Exception as ex:  # noqa: BLE001 - reported per asset
            out[e.id] = {"ok": False, "error": f"{type(ex).__name__}: {ex}".splitlines()[0]}
    return out


def probe_bounds(bproc, path: Path, fmt: str, rotation_deg: list[float]) -> dict:
    """One mesh file loaded as the renderer loads it, before sizing (scene_assets.load_upright): its extent
    in the file's own units, upright by rotation_deg (what `synthgap assets add` sizes the entry from)."""
    from render import scene_assets as sa

    bproc.clean_up()
    try:
        return describe(sa.load_upright(bproc, path, fmt, rotation_deg, str(path)))
    except Exception as ex:  # noqa: BLE001 - reported to the caller as one line
        return {"ok": False, "error": f"{type(ex).__name__}: {ex}".splitlines()[0]}


def describe(obj) -> dict:
    """A loaded mesh: vertex and face counts, world extent (x, y, z), lowest z, the size_cm scale factors,
    materials (neutral: the file gave none), and its image textures (found or not)."""
    import numpy as np

    from render import scene_assets as sa
    from render.mesh_import import NEUTRAL_PREFIX

    v = sa.world_vertices(obj)
    ext = (v.max(axis=0) - v.min(axis=0)) if len(v) else np.zeros(3)
    images = set()
    mats = [m for m in obj.get_materials() if m is not None]
    for m in mats:
        if not m.blender_obj.use_nodes:
            continue
        for n in m.blender_obj.node_tree.nodes:
            if n.type == "TEX_IMAGE" and n.image is not None:
                images.add((n.image.filepath or n.image.name, bool(n.image.has_data or n.image.size[0] > 0)))
    return {"ok": True, "n_vertices": int(len(v)), "n_faces": len(obj.get_mesh().polygons),
            "extent_m": [round(float(x), 6) for x in ext],
            "min_z": round(float(v[:, 2].min()), 6) if len(v) else None,
            "size_scale": list(obj.get_cp("size_scale")) if obj.has_cp("size_scale") else None,
            "n_materials": len(mats), "neutral_material": any(m.get_name().startswith(NEUTRAL_PREFIX) for m in mats),
            "textures": sorted(p for p, _ in images),
            "textures_missing": sorted(p for p, ok in images if not ok)}


def probe_layout(bproc, manifest, ids: list[str], seeds: list[int], placement: str) -> dict:
    """Load the ids once per seed, lay them out with render.scene_assets, report per object: its support,
    the support plane's height, its world min z, its rotation; for objects on a table, how far their
    centre lies inside the table top's hull ("inset_m"); per support, the smallest clearance between
    footprint discs ("clearance_m", < 0 = overlap)."""
    import math

    import numpy as np

    from render import scene_assets as sa

    runs = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        bproc.clean_up()
        sa.make_floor(bproc, None, rng)
        objs, classes = [], []
        for k, aid in enumerate(ids):
            e = manifest.by_id(aid)
            objs.append(sa.load_mesh_entry(bproc, e, name=f"obj{k}_{aid}"))
            classes.append(e.cls)
        res = []
        clearance: dict[str, float] = {}
        if placement == "surface":
            fps = sa.layout_surface(objs, classes, rng)
            by_name = {f.obj.get_name(): f for f in fps}
            for f in fps:
                v = sa.world_vertices(f.obj)
                rec = {"name": f.obj.get_name(), "class": f.cls, "support": f.support, "support_z": f.support_z,
                       "min_z": float(v[:, 2].min()), "rotation": [float(a) for a in f.obj.get_rotation_euler()]}
                if f.support != "floor":
                    t = by_name[f.support]
                    hull, _ = sa.table_top(t.obj)
                    c, s_ = math.cos(-t.yaw), math.sin(-t.yaw)
                    d = np.asarray(f.xy) - np.asarray(t.xy)
                    rec["inset_m"] = sa.inset_distance(np.array([c * d[0] - s_ * d[1], s_ * d[0] + c * d[1]]), hull)
                    rec["radius"] = f.radius
                res.append(rec)
            for i, a in enumerate(fps):
                for b in fps[i + 1:]:
                    if a.support == b.support:
                        gap = float(np.linalg.norm(np.asarray(a.xy) - np.asarray(b.xy))) - a.radius - b.radius
                        clearance[a.support] = min(clearance.get(a.support, math.inf), gap)
        else:
            sa.pose_floating(objs, rng)
            for o in objs:
                v = sa.world_vertices(o)
                res.append({"name": o.get_name(), "min_z": float(v[:, 2].min()),
                            "rotation": [float(a) for a in o.get_rotation_euler()]})
        runs.append({"seed": seed, "objects": res, "clearance_m": clearance})
    return {"runs": runs}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m render.assets_probe")
    ap.add_argument("mode", choices=["load", "layout", "bounds"])
    ap.add_argument("--file", default=None, help="bounds: the mesh file")
    ap.add_argument("--format", default=None, help="bounds: its format (render.manifest.MESH_FORMATS)")
    ap.add_argument("--rotation", default="0,0,0", help="bounds: XYZ Euler degrees making it upright")
    ap.add_argument("--manifest", default=None)
    ap.add_argument("--ids", default="")
    ap.add_argument("--seeds", default="0", help="layout: comma-separated seeds (one layout each)")
    ap.add_argument("--placement", choices=["surface", "floating"], default="surface")
    args = ap.parse_args(argv)
    from render.manifest import load_manifest

    if args.mode == "bounds":
        bproc = _bproc()
        result = probe_bounds(bproc, Path(args.file), args.format, [float(x) for x in args.rotation.split(",")])
        sys.stdout.write("\n" + json.dumps(result) + "\n")
        sys.stdout.flush()
        return 0
    manifest = load_manifest(args.manifest)
    ids = [i for i in args.ids.split(",") if i]
    bproc = _bproc()
    result = probe_load(bproc, manifest, ids or None) if args.mode == "load" else \
        probe_layout(bproc, manifest, ids, [int(x) for x in args.seeds.split(",") if x], args.placement)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    from render.bproc_compat import hard_exit

    hard_exit(main(sys.argv[1:]))
