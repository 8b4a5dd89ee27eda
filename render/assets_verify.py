"""Checks of manifest entries, shared by `synthgap assets check` and `synthgap assets add`: files and their
side files (file_problems), a load in the render environment as the renderer loads each mesh (render_problems,
through render/assets_probe.py), and the real-size bounding boxes (size_table, size_problems: an object outside
[MIN_REAL_M, MAX_REAL_M] is in other units or mis-sized)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from core.errors import UserError

MAX_REAL_M = 5.0          # a mesh larger than this across (or smaller than MIN_REAL_M) is refused: wrong units?
MIN_REAL_M = 0.005

MANIFEST_HEADER = """\
# Every asset the renderer may use. Schema: render/manifest.py. `synthgap assets check` verifies it.
# Primitives stand in for a class only while no real mesh of that class is listed.
# Meshes + floor textures: `synthgap assets import-sweethome3d` (Debian sweethome3d-furniture);
# HDRIs: `synthgap assets import-hdri` (npm @pmndrs/assets, CC0 Poly Haven). `cache:` = $SYNTHGAP_CACHE/assets/,
# filled by `python -m render.assets_setup` (scripts/setup.sh). Your own meshes: `synthgap assets add`.
"""


def load_checked(path: str | None):
    """The manifest (default: $SYNTHGAP_MANIFEST or the clone's), a ManifestError as a one-line UserError."""
    from render.manifest import ManifestError, load_manifest

    try:
        return load_manifest(path)
    except ManifestError as e:
        raise UserError(str(e)) from None


def file_problems(manifest, ids: set[str] | None = None) -> list[str]:
    """Per entry: file exists, non-empty, checksum; an OBJ's MTL and textures exist."""
    from render.manifest import sha256_file

    out = []
    for a in manifest.assets:
        if a.is_primitive or (ids and a.id not in ids):
            continue
        where = f"{manifest.path}: asset {a.id}"
        p = a.resolved_path()
        if not p.exists():
            out.append(f"{where}: file {p} missing (run scripts/setup.sh or `python -m render.assets_setup`)")
            continue
        if p.stat().st_size == 0:
            out.append(f"{where}: file {p} is empty")
            continue
        got = sha256_file(p)
        if got != a.sha256:
            out.append(f"{where}: file {p}: sha256 {got} does not match the manifest's {a.sha256}")
            continue
        if a.format == "obj":
            out += [f"{where}: {m}" for m in obj_dependency_problems(p)]
    return out


def obj_side_files(obj: Path) -> tuple[list[Path], list[str]]:
    """The files an OBJ names beside itself: its mtllib files and their map_* images -> (the ones present, one
    problem line per missing one). A missing map_refl is no problem: Blender's importer ignores it, and some
    catalogue MTLs name a reflection image the package does not ship."""
    found, probs, mtls = [], [], []
    with open(obj, encoding="latin-1") as f:
        for line in f:
            if line.startswith("mtllib"):
                mtls += line.split(None, 1)[1].strip().split() if len(line.split(None, 1)) > 1 else []
    for m in mtls:
        mp = obj.parent / m
        if not mp.exists():
            probs.append(f"{obj}: material library {m} missing")
            continue
        found.append(mp)
        with open(mp, encoding="latin-1") as f:
            for line in f:
                parts = line.strip().split()
                if parts and parts[0].lower().startswith("map_") and len(parts) > 1:
                    tex = parts[-1]
                    if (obj.parent / tex).exists():
                        found.append(obj.parent / tex)
                    elif parts[0].lower() != "map_refl" and not Path(tex).is_absolute():
                        probs.append(f"{mp}: texture {tex} missing")
    return found, probs


def obj_dependency_problems(obj: Path) -> list[str]:
    """mtllib files and their map_* textures must exist next to the OBJ."""
    return obj_side_files(obj)[1]


def merged_manifest_text(manifest, new_entries) -> tuple[str, int, int]:
    """The manifest with `new_entries` in it (an entry of the same id replaced in place, the others appended) as
    YAML that loads (checked) -> (text, added, replaced)."""
    import yaml

    from render.manifest import Manifest, dump_manifest, parse_manifest

    by_id = {e.id: e for e in new_entries}
    kept, replaced = [], 0
    for a in manifest.assets:
        if a.id in by_id:
            kept.append(by_id.pop(a.id))
            replaced += 1
        else:
            kept.append(a)
    added = list(by_id.values())
    text = dump_manifest(Manifest(path=manifest.path, assets=kept + added), MANIFEST_HEADER)
    parse_manifest(manifest.path, yaml.safe_load(text))  # never write a manifest that does not load
    return text, len(added), replaced


def real_size_ok(extent_m) -> bool:
    """A photographed object's size: its largest extent within [MIN_REAL_M, MAX_REAL_M] metres."""
    return MIN_REAL_M <= max(extent_m) <= MAX_REAL_M
def render_problems(manifest, ids: set[str] | None = None, timeout: int = 600) -> tuple[list[str], dict]:
    """Load every mesh entry in the render environment as the renderer does; bounds must be finite, match
    size_cm, need near-equal axis scales, and every texture must load."""
    meshes = [a for a in manifest.assets if a.kind == "mesh" and not a.is_primitive and (not ids or a.id in ids)]
    if not meshes:
        return [], {}
    try:
        res = probe(["load", "--manifest", str(manifest.path)] + (["--ids", ",".join(sorted(ids))] if ids else []),
                    timeout)
    except UserError as e:
        return [f"{manifest.path}: {e}"], {}
    out = []
    for a in meshes:
        info = res.get(a.id)
        where = f"{manifest.path}: asset {a.id}"
        if info is None:
            out.append(f"{where}: not probed")
        elif not info["ok"]:
            out.append(f"{where}: mesh does not load in the render environment: {info['error']}")
        else:
            ext = info["extent_m"]
            if info["n_faces"] == 0 or min(ext) <= 1e-5:
                out.append(f"{where}: degenerate mesh ({info['n_faces']} faces, extent {ext} m)")
            elif a.size_cm and max(abs(e * 100 - s) / s for e, s in zip(ext, a.size_cm)) > 0.02:
                out.append(f"{where}: loaded extent {ext} m does not match size_cm {list(a.size_cm)}")
            sc = info.get("size_scale")
            if sc and min(sc) > 0 and max(sc) / min(sc) > 1.25:
                out.append(f"{where}: size_cm {list(a.size_cm)} needs unequal axis scales "
                           f"{[round(x, 4) for x in sc]}: is rotation_deg {list(a.rotation_deg)} upright?")
            if info.get("textures_missing"):
                out.append(f"{where}: textures not loaded: {', '.join(info['textures_missing'])}")
    return out, res


def probe(args: list[str], timeout: int = 600) -> dict:
    """One render.assets_probe call in the render environment -> its JSON (a failure is one line)."""
    from core.envs import render_python, subprocess_env

    r = subprocess.run([str(render_python()), "-m", "render.assets_probe", *args], capture_output=True,
                       text=True, env=subprocess_env(), timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"render environment probe failed (exit {r.returncode}): {tail}")
    return json.loads(lines[-1])


def size_table(manifest, res: dict) -> str:
    """Each probed mesh's real-size bounding box as the renderer loads it (x, y, z in cm; z is up)."""
    rows = [f"{a.id:<40} {a.cls or '':<14} " + " x ".join(f"{e * 100:.1f}" for e in res[a.id]["extent_m"]) + " cm"
            for a in manifest.assets if res.get(a.id, {}).get("ok")]
    return "\n".join(["real-size bounding box as loaded (x x y x z, z up):", *rows, ""]) if rows else ""


def size_problems(manifest, res: dict) -> list[str]:
    """A mesh whose loaded size is beyond what a photographed object can be: wrong units or a wrong size_cm."""
    out = []
    for a in manifest.assets:
        info = res.get(a.id, {})
        if info.get("ok") and not real_size_ok(info["extent_m"]):
            out.append(f"{manifest.path}: asset {a.id}: real-size bounding box {info['extent_m']} m is outside "
                       f"[{MIN_REAL_M}, {MAX_REAL_M}] m: a mesh in other units? (`assets add --height` sizes it)")
    return out
