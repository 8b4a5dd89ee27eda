"""`synthgap assets ...`: import meshes / HDRIs into assets_manifest.yaml, and check every entry.

    synthgap assets import-sweethome3d --classes "chair,dining table,cup,bottle" [--max-per-class 12] [--clutter]
    synthgap assets import-hdri --names apartment,lobby,studio
    synthgap assets add MESH --class NAME --height M | --scale S   (render/assets_add.py: your own mesh)
    synthgap assets check [--no-render] [--ids a,b]
    synthgap assets list
    synthgap assets licenses DATASET_DIR [--stdout]   (DIR/LICENSES.txt from the dataset's COCO info)
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from core.errors import UserError

from core.io import atomic_write_text
from render.assets_verify import file_problems, obj_dependency_problems  # noqa: F401 (tests read it here)
from render.assets_verify import load_checked as _load
from render.assets_verify import merged_manifest_text, render_problems, size_problems, size_table

def _merge_write(manifest, new_entries, drop_prim_for: set[str] | None = None) -> tuple[int, int]:
    """Replace entries with the same id, append the others; write atomically. Returns (added, replaced)."""
    text, added, replaced = merged_manifest_text(manifest, new_entries)
    atomic_write_text(manifest.path, text)
    return added, replaced

def cmd_import_sweethome3d(args) -> int:
    from render import sweethome3d as sh
    from core.progress import Progress

    classes = [c.strip() for c in (args.classes or "").split(",") if c.strip()]
    if not classes and not args.clutter:
        raise UserError("--classes: give at least one class, e.g. --classes 'chair,dining table,cup,bottle' "
                        "(or --clutter)")
    furniture = Path(args.furniture_dir)
    manifest = _load(args.manifest)
    try:
        pieces = sh.read_all(furniture)
        chosen = [(p, c, "mesh") for p, c in sh.select(pieces, classes, args.max_per_class)] if classes else []
        if args.clutter:
            chosen += [(p, None, "clutter") for p in sh.clutter_split(pieces)[0][:args.max_clutter]]
    except ValueError as e:
        raise UserError(str(e)) from None
    entries = []
    with Progress(len(chosen), "extract") as prog:
        for piece, cls, kind in chosen:
            entries.append(sh.entry_for(piece, cls, furniture, kind=kind))
            prog.update(1, postfix=piece.cat_id)
    if not args.no_floor_textures:
        entries += sh.floor_entries(furniture)
    added, replaced = _merge_write(manifest, entries)
    counts = Counter(e.cls for e in entries if e.kind == "mesh")
    print(f"{manifest.path}: {added} added, {replaced} replaced "
          f"({', '.join(f'{c}: {counts[c]}' for c in classes)}{'; ' if classes else ''}clutter: "
          f"{sum(e.kind == 'clutter' for e in entries)}; floor textures: "
          f"{sum(e.kind == 'floor_texture' for e in entries)})")
    return 0


def cmd_import_hdri(args) -> int:
    from render import assets_setup as st
    from render.manifest import AssetEntry, asset_cache_dir, sha256_file

    manifest = _load(args.manifest)
    try:
        tgz = st.npm_tarball()
    except RuntimeError as e:
        raise UserError(str(e)) from None
    available = st.hdri_names_in_tarball(tgz)
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else available
    bad = [n for n in names if n not in available]
    if bad:
        raise UserError(f"--names: no HDRI {', '.join(bad)} in {st.NPM_PACKAGE}@{st.NPM_VERSION} "
                        f"(available: {', '.join(available)})")
    entries = []
    for n in names:
        rel = f"hdri/{n}.exr"
        dest = asset_cache_dir() / rel
        if not dest.exists():
            st.make_hdri(rel, tgz, dest)
        entries.append(AssetEntry(id=f"hdri-{n}", kind="hdri", format="exr", path=f"cache:{rel}", licence="CC0-1.0",
                                  author="Poly Haven (polyhaven.com), resized by pmndrs/assets",
                                  source=f"npm {st.NPM_PACKAGE}@{st.NPM_VERSION}: hdri/{n}.exr.js",
                                  sha256=sha256_file(dest)))
    added, replaced = _merge_write(manifest, entries)
    print(f"{manifest.path}: {added} added, {replaced} replaced (HDRIs: {', '.join(names)})")
    return 0


# ---- check -------------------------------------------------------------------------------------------
def count_table(manifest) -> str:
    rows = []
    for c in manifest.class_names():
        ms = [a for a in manifest.assets if a.kind == "mesh" and a.cls == c]
        real = [a for a in ms if not a.is_primitive]
        lic = Counter(a.licence for a in real)
        rows.append((c, str(len(real)), str(len(ms) - len(real)), "real" if real else "primitive",
                     ", ".join(f"{k} {v}" for k, v in sorted(lic.items())) or "-"))
    for kind in ("clutter", "hdri", "floor_texture"):
        bs = manifest.backgrounds(kind)
        lic = Counter(a.licence for a in bs)
        rows.append((f"[{kind}]", str(len(bs)), "-", "-", ", ".join(f"{k} {v}" for k, v in sorted(lic.items())) or "-"))
    head = ("class", "meshes", "primitives", "renders with", "licences")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % x for x in w)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * x for x in w))] + [fmt.format(*r) for r in rows])


def cmd_check(args) -> int:
    manifest = _load(args.manifest)
    ids = {i for i in args.ids.split(",") if i} if args.ids else None
    if ids:
        unknown = ids - {a.id for a in manifest.assets}
        if unknown:
            raise UserError(f"--ids: not in {manifest.path}: {', '.join(sorted(unknown))}")
    problems, res = file_problems(manifest, ids), {}
    if not args.no_render:
        bad_files = {p.split(": asset ", 1)[1].split(":", 1)[0] for p in problems if ": asset " in p}
        probe_ids = {a.id for a in manifest.assets if a.kind in ("mesh", "clutter") and not a.is_primitive
                     and (not ids or a.id in ids) and a.id not in bad_files}
        if probe_ids:
            more, res = render_problems(manifest, probe_ids)
            problems += more + size_problems(manifest, res)
    print(count_table(manifest))
    if res:
        print("\n" + size_table(manifest, res))
    n = sum(1 for a in manifest.assets if not ids or a.id in ids)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {n} entries", file=sys.stderr)
        return 1
    print(f"{manifest.path}: {n} entries ok" + ("" if not args.no_render else " (render-env load skipped)"))
    return 0


def cmd_list(args) -> int:
    manifest = _load(args.manifest)
    for a in manifest.assets:
        size = "x".join(f"{s:g}" for s in a.size_cm) + " cm" if a.size_cm else ""
        print(f"{a.id:<34} {a.kind:<13} {a.cls or '':<13} {size:<20} {a.licence:<12} {a.author}")
    return 0


def cmd_licenses(args) -> int:
    """A rendered dataset's attribution as text: the asset ids in COCO info.licenses (written by every
    render) -> render.manifest.attribution() -> DIR/LICENSES.txt (or stdout)."""
    from render.manifest import attribution
    from core.io import read_json

    d = Path(args.dataset)
    coco_path = d / "coco_annotations.json" if d.is_dir() else d
    coco = read_json(coco_path, "COCO annotations")
    lic = (coco.get("info") or {}).get("licenses")
    if not isinstance(lic, list):
        raise UserError(f"{coco_path}: no info.licenses (not a synthgap dataset?)")
    manifest = _load(args.manifest)
    ids = [x["asset_id"] for x in lic if isinstance(x, dict) and "asset_id" in x]
    try:
        text = attribution(manifest, ids)["text"]
    except KeyError as e:
        raise UserError(str(e.args[0])) from None
    if args.stdout:
        sys.stdout.write(text)
    else:
        out = coco_path.parent / "LICENSES.txt"
        atomic_write_text(out, text)
        print(f"wrote {out} ({len(ids)} assets)")
    return 0


def main(argv: list[str]) -> int:
    from render import sweethome3d as sh

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", default=None, help="default: $SYNTHGAP_MANIFEST or assets_manifest.yaml")
    ap = argparse.ArgumentParser(prog="synthgap assets", description="meshes and backgrounds in assets_manifest.yaml")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("import-sweethome3d", parents=[common], help="extract Sweet Home 3D models of some classes, add them to the manifest")
    p.add_argument("--classes", default=None, help="comma-separated, e.g. 'chair,dining table,cup,bottle'")
    p.add_argument("--max-per-class", type=int, default=None, help="first N of each class in CLASS_TABLE order")
    p.add_argument("--clutter", action="store_true", help="also every small piece that is no class and looks like "
                   "none (kind clutter: unlabelled objects around the targets; rule: render/sweethome3d.py)")
    p.add_argument("--max-clutter", type=int, default=None, help="first N clutter pieces by catalogue id")
    p.add_argument("--furniture-dir", default=str(sh.DEFAULT_FURNITURE_DIR))
    p.add_argument("--no-floor-textures", action="store_true", help="do not add the CC0 floor textures")
    p.set_defaults(func=cmd_import_sweethome3d)
    p = sub.add_parser("import-hdri", parents=[common], help="decode CC0 HDRIs from npm @pmndrs/assets, add them to the manifest")
    p.add_argument("--names", default="", help="comma-separated HDRI names (default: all in the package)")
    p.set_defaults(func=cmd_import_hdri)
    from render.assets_add import add_parser
    add_parser(sub, common)
    p = sub.add_parser("check", parents=[common], help="verify every entry; per-class table; exit 1 with one line per problem")
    p.add_argument("--no-render", action="store_true", help="skip loading meshes in the render environment")
    p.add_argument("--ids", default="", help="only these entries (comma-separated)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("list", parents=[common], help="one line per entry")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("licenses", parents=[common], help="write DATASET_DIR/LICENSES.txt (asset attribution)")
    p.add_argument("dataset", help="a rendered dataset dir (or its coco_annotations.json)")
    p.add_argument("--stdout", action="store_true", help="print instead of writing LICENSES.txt")
    p.set_defaults(func=cmd_licenses)
    args = ap.parse_args(argv)
    if getattr(args, "max_per_class", None) is not None and args.max_per_class < 1:
        raise UserError("--max-per-class must be >= 1")
    if getattr(args, "max_clutter", None) is not None and args.max_clutter < 1:
        raise UserError("--max-clutter must be >= 1")
    return args.func(args)
