"""`synthgap assets add`: a user's own mesh file -> a validated manifest entry at its real size.

    synthgap assets add MESH --class NAME (--height M | --scale S) [--up auto|Z|Y] [--kind mesh|clutter]
                       [--licence own] [--author A] [--source S] [--id ID] [--copy] [--replace] [--manifest M]

MESH is any format bpy 4.2 imports (render.manifest.MESH_FORMATS: obj, ply, stl, glb, gltf, fbx, blend). The
file is loaded in the render environment exactly as the renderer loads it (render/scene_assets.py
load_upright: the importer's axis conversion and hierarchy baked in), and its bounding box sizes the entry:
`--height M` scales it uniformly so its upright height is M metres, `--scale S` multiplies the file's units
(0.001 for millimetres). `--up` names the model's up axis in the file: `auto` takes each format's convention
(obj, glb/gltf, fbx: Y-up, converted by their importers; ply, stl, blend: Z-up). The entry is then loaded once
more at size (the `assets check` probe) before the manifest is replaced atomically: a file bpy cannot import,
a missing texture or a degenerate mesh is one line naming the file, and the manifest is left as it was.

The entry references MESH where it is (absolute path); `--copy` copies it with its side files (an OBJ's MTL and
textures, a glTF's buffers and images) to `$SYNTHGAP_CACHE/assets/own/<id>/` instead. A class name is any name
(render.manifest.class_name_ok); the real set's category of that name is what runs align and score it.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from core.errors import UserError
from render.assets_verify import obj_side_files, probe, real_size_ok

Y_UP_FORMATS = ("obj", "glb", "gltf", "fbx")      # their Blender importers convert Y-up to Z-up
# rotation_deg that makes a file's up axis Blender's +Z, by (format convention, the file's up axis)
_ROTATION = {("Y", "Y"): (0.0, 0.0, 0.0), ("Y", "Z"): (-90.0, 0.0, 0.0),
             ("Z", "Z"): (0.0, 0.0, 0.0), ("Z", "Y"): (90.0, 0.0, 0.0)}


def rotation_for(fmt: str, up: str) -> tuple[float, float, float]:
    convention = "Y" if fmt in Y_UP_FORMATS else "Z"
    return _ROTATION[(convention, convention if up == "auto" else up)]


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return s or "mesh"


def mesh_format(path: Path) -> str:
    from render.manifest import MESH_FORMATS

    fmt = path.suffix.lower().lstrip(".")
    if fmt not in MESH_FORMATS:
        raise UserError(f"{path}: format .{fmt or '(none)'} is not one bpy 4.2 imports "
                        f"({', '.join(MESH_FORMATS)}): convert it, e.g. to glb")
    return fmt


def side_files(path: Path, fmt: str) -> list[Path]:
    """Files a mesh file names beside itself: an OBJ's mtllib files and their map_* images, a glTF's buffer
    and image uris (data: uris excluded). Other formats carry their data (or absolute paths) inside."""
    out: list[Path] = []
    if fmt == "obj":
        out = obj_side_files(path)[0]
    elif fmt == "gltf":
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: not a readable glTF json ({e})") from None
        for key in ("buffers", "images"):
            for item in d.get(key, []) or []:
                uri = item.get("uri") if isinstance(item, dict) else None
                if isinstance(uri, str) and not uri.startswith("data:"):
                    out.append(path.parent / uri)
    for p in out:
        if not p.resolve().is_relative_to(path.parent.resolve()):
            raise UserError(f"{path}: it names {p}, outside its folder: --copy copies only files beside it")
    return [p for p in out if p.is_file()]


def size_cm(extent: list[float], height: float | None, scale: float | None, path: Path) -> tuple[float, ...]:
    """The entry's size_cm from the upright extent in file units; refused outside [MIN_REAL_M, MAX_REAL_M]."""
    if extent[2] <= 0:
        raise UserError(f"{path}: the mesh is flat along z (extent {extent}): is --up right?")
    factor = height / extent[2] if height is not None else scale
    size = tuple(round(e * factor * 100.0, 4) for e in extent)
    biggest = max(size) / 100.0
    if not real_size_ok([biggest]):
        hint = "pass --height in metres" if height is not None else \
            "is it in millimetres (--scale 0.001) or centimetres (--scale 0.01)? or give --height"
        raise UserError(f"{path}: at that size the object would be {biggest:.4g} m across (extent "
                        f"{[round(e, 4) for e in extent]} file units x {factor:.4g}): {hint}")
    return size


def check_args(a) -> None:
    from render.manifest import LICENCES, class_name_ok

    if a.kind == "mesh" and not a.cls:
        raise UserError("--class: required for a mesh (the real set's category name)")
    if a.kind == "clutter" and a.cls:
        raise UserError("--class: clutter carries no class (it is never annotated)")
    if a.cls and not class_name_ok(a.cls):
        raise UserError(f"--class: {a.cls!r}: 1-64 printable characters, no commas, no outer spaces")
    for name, v in (("--height", a.height), ("--scale", a.scale)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UserError(f"{name}: must be a positive number, got {v}")
    if a.licence not in LICENCES:
        raise UserError(f"--licence: {a.licence!r} is not one of {', '.join(LICENCES)}")
    if not a.author.strip():
        raise UserError("--author: must not be empty")


def cmd_add(a) -> int:
    import yaml

    from render.assets_verify import load_checked, merged_manifest_text, render_problems
    from render.manifest import _ID_RE, AssetEntry, asset_cache_dir, parse_manifest, sha256_file
    from core.io import atomic_write_text

    check_args(a)
    src = Path(a.mesh)
    if not src.is_file():
        raise UserError(f"{src}: mesh file not found")
    fmt = mesh_format(src)
    manifest = load_checked(a.manifest)
    asset_id = a.id or f"own-{slug(a.cls or 'clutter')}-{slug(src.stem)}"
    if not _ID_RE.match(asset_id):
        raise UserError(f"--id: {asset_id!r} must match {_ID_RE.pattern}")
    if any(e.id == asset_id for e in manifest.assets) and not a.replace:
        raise UserError(f"{manifest.path}: asset {asset_id} already exists (--replace to replace it, or --id)")
    extras = side_files(src, fmt) if a.copy else []
    rotation = rotation_for(fmt, a.up)
    info = probe(["bounds", "--file", str(src.resolve()), "--format", fmt, "--rotation", ",".join(map(str, rotation))])
    if not info["ok"]:
        raise UserError(f"{src}: bpy 4.2 could not import it as .{fmt}: {info['error']}")
    size = size_cm(info["extent_m"], a.height, a.scale, src)
    path = str(src.resolve())
    dest = asset_cache_dir() / "own" / asset_id
    if a.copy:
        path = f"cache:own/{asset_id}/{src.name}"
    entry = AssetEntry(id=asset_id, kind=a.kind, format=fmt, path=path, licence=a.licence, author=a.author,
                       cls=a.cls if a.kind == "mesh" else None, size_cm=size, rotation_deg=rotation,
                       source=a.source or f"synthgap assets add {src.name}", sha256=sha256_file(src),
                       manifest_dir=str(manifest.path.resolve().parent))
    fresh = a.copy and not dest.exists()
    if a.copy:                      # the copy first: the probe below loads the entry from where it will live
        dest.mkdir(parents=True, exist_ok=True)
        for f in [src, *extras]:
            (dest / f.relative_to(src.parent)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.relative_to(src.parent))
    text = merged_manifest_text(manifest, [entry])[0]
    trial = manifest.path.parent / f".{manifest.path.name}.add-{asset_id}.yaml"
    try:
        atomic_write_text(trial, text)
        candidate = parse_manifest(trial, yaml.safe_load(text))
        problems, res = render_problems(candidate, {asset_id}) if a.kind == "mesh" else ([], {})
        if problems:
            raise UserError(problems[0].replace(str(trial), str(manifest.path)))
        atomic_write_text(manifest.path, text)
    except BaseException:
        if fresh:                   # nothing half-written: a refused mesh leaves no copy behind
            shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        trial.unlink(missing_ok=True)
    got = res.get(asset_id, info)
    tex = got.get("textures") or []
    print(f"added {asset_id} ({a.kind}{', class ' + a.cls if a.cls else ''}, {fmt}): "
          f"{' x '.join(f'{s:g}' for s in size)} cm (x, y, z), {got.get('n_faces', '?')} faces, "
          f"{'a neutral material (the file has none)' if got.get('neutral_material') else str(got.get('n_materials')) + ' material(s)'}"
          f", {len(tex)} texture(s); rotation_deg {list(rotation)}; {manifest.path}")
    return 0


def add_parser(sub, common) -> None:
    from render.manifest import MESH_FORMATS

    p = sub.add_parser("add", parents=[common], help=f"add your own mesh ({', '.join(MESH_FORMATS)}) at its real "
                       "size as a manifest entry of any class")
    p.add_argument("mesh", help="the mesh file")
    p.add_argument("--class", dest="cls", default=None, help="its class: the real set's category name (any name)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--height", type=float, default=None, help="its real upright height in metres (uniform scale)")
    g.add_argument("--scale", type=float, default=None, help="metres per file unit (0.001: a mesh in millimetres)")
    p.add_argument("--up", choices=["auto", "Z", "Y"], default="auto", help="the model's up axis in the file "
                   "(default auto: Y for obj, glb, gltf, fbx; Z for ply, stl, blend)")
    p.add_argument("--kind", choices=["mesh", "clutter"], default="mesh",
                   help="mesh: a class to detect; clutter: an unlabelled object placed around the targets")
    p.add_argument("--licence", default="own", help="licence id (render.manifest.LICENCES; default: own)")
    p.add_argument("--author", default="own", help="author for the datasets' attribution (default: own)")
    p.add_argument("--source", default="", help="where it came from (free text)")
    p.add_argument("--id", default=None, help="entry id (default: own-<class>-<file stem>)")
    p.add_argument("--copy", action="store_true", help="copy the file and its side files into "
                   "$SYNTHGAP_CACHE/assets/own/<id>/ (default: reference it where it is)")
    p.add_argument("--replace", action="store_true", help="replace an entry of the same id")
    p.set_defaults(func=cmd_add)
