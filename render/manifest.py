"""assets_manifest.yaml: every mesh and background the renderer may use (pure Python: yaml only).

Loaded in both environments (the main env for checks and category ids, the render env inside Blender).
Schema (one mapping):

    version: 1
    assets:
      - id: sh3d-bottle-wine            # unique, [a-z0-9._-]
        class: bottle                   # any class name (meshes), matched by name to the real set's
                                        #   categories; backgrounds have no class
        kind: mesh                      # mesh | clutter | hdri | floor_texture (clutter: unlabelled
                                        #   everyday objects placed around the targets, no class)
        format: obj                     # meshes: obj | ply | stl | glb | gltf | fbx | blend | primitive;
                                        #   hdri: exr | hdr; floor_texture: png | jpg
        path: cache:sweethome3d/x.obj   # relative to the manifest's folder, absolute, or `cache:` =
                                        #   $SYNTHGAP_CACHE/assets/ ; for format primitive: cube|cylinder|sphere|cone
        size_cm: [7.5, 7.5, 30]         # real-world width (x), depth (y), height (z) after `rotation_deg`
        rotation_deg: [90, 0, 0]        # XYZ Euler (degrees) that makes the model Z-up and upright
        licence: CC0-1.0                # LICENCES below; `own` for a user's own scan or CAD model
        author: Poly Haven
        source: where it came from (package, file)
        sha256: <hex>                   # of the file; required unless format is primitive

Category ids are stable across every dataset: the sorted mesh class names -> 1..n.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("mesh", "clutter", "hdri", "floor_texture")
MESH_FORMATS = ("obj", "ply", "stl", "glb", "gltf", "fbx", "blend")     # what bpy 4.2 imports (render/mesh_import.py)
FORMATS = {"mesh": MESH_FORMATS + ("primitive",), "clutter": MESH_FORMATS + ("primitive",), "hdri": ("exr", "hdr"),
           "floor_texture": ("png", "jpg")}
SHAPED_KINDS = ("mesh", "clutter")          # kinds that are 3-D models (size_cm required, loaded like meshes)
PRIMITIVES = ("cube", "cylinder", "sphere", "cone")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

# Licences an asset may carry: id -> (name, url, attribution required). An entry with another licence is
# rejected, so every dataset's attribution (attribution() below) is complete.
LICENCES: dict[str, tuple[str, str, bool]] = {
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal (public domain)",
                "https://creativecommons.org/publicdomain/zero/1.0/", False),
    "CC-BY-3.0": ("Creative Commons Attribution 3.0 Unported", "https://creativecommons.org/licenses/by/3.0/", True),
    "CC-BY-3.0-US": ("Creative Commons Attribution 3.0 United States",
                     "https://creativecommons.org/licenses/by/3.0/us/", True),
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", "https://creativecommons.org/licenses/by/4.0/", True),
    "own": ("the user's own asset (its terms are the user's; not from a public catalogue)", "", False),
}

# COCO's 80 detection classes: the Sweet Home 3D importer maps its catalogue onto them. A mesh's class may be
# any name (a user's own product or part), matched by name to the real set's categories.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
_REQUIRED = ("id", "kind", "format", "path", "licence", "author")
_OPTIONAL = ("class", "size_cm", "rotation_deg", "source", "sha256")


class ManifestError(ValueError):
    """A manifest problem: message names the file, the entry and the field."""


def default_manifest_path() -> Path:
    """$SYNTHGAP_MANIFEST, else assets_manifest.yaml at the top of the clone."""
    env = os.environ.get("SYNTHGAP_MANIFEST")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "assets_manifest.yaml"


def asset_cache_dir() -> Path:
    return Path(os.environ.get("SYNTHGAP_CACHE", Path.home() / ".cache" / "synthgap")) / "assets"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


@dataclass(frozen=True)
class AssetEntry:
    id: str
    kind: str
    format: str
    path: str
    licence: str
    author: str
    cls: str | None = None
    size_cm: tuple[float, float, float] | None = None
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: str = ""
    sha256: str | None = None
    manifest_dir: str = ""

    @property
    def is_primitive(self) -> bool:
        return self.format == "primitive"

    def resolved_path(self) -> Path | None:
        """Absolute file path (None for primitives)."""
        if self.is_primitive:
            return None
        if self.path.startswith("cache:"):
            return asset_cache_dir() / self.path[len("cache:"):]
        p = Path(self.path)
        return p if p.is_absolute() else Path(self.manifest_dir) / p

    def to_mapping(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id}
        if self.cls is not None:
            d["class"] = self.cls
        d.update(kind=self.kind, format=self.format, path=self.path)
        if self.size_cm is not None:
            d["size_cm"] = list(self.size_cm)
        if any(self.rotation_deg):
            d["rotation_deg"] = list(self.rotation_deg)
        d.update(licence=self.licence, author=self.author)
        if self.source:
            d["source"] = self.source
        if self.sha256:
            d["sha256"] = self.sha256
        return d


@dataclass
class Manifest:
    path: Path
    assets: list[AssetEntry] = field(default_factory=list)

    def by_id(self, asset_id: str) -> AssetEntry:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise KeyError(f"{self.path}: no asset with id {asset_id!r}")

    def class_names(self) -> list[str]:
        """Sorted mesh class names; category id = index + 1 (stable across datasets)."""
        return sorted({a.cls for a in self.assets if a.kind == "mesh" and a.cls})

    def categories(self) -> list[dict[str, Any]]:
        return [{"id": i + 1, "name": n, "supercategory": n} for i, n in enumerate(self.class_names())]

    def category_id(self, cls: str) -> int:
        names = self.class_names()
        if cls not in names:
            raise KeyError(f"{self.path}: class {cls!r} not in manifest (classes: {', '.join(names)})")
        return names.index(cls) + 1

    def meshes(self, classes: list[str] | None = None, include_primitives: bool | None = None) -> list[AssetEntry]:
        """Meshes of the given classes. Real meshes win: primitives of a class are used only while the
        manifest lists no real mesh for it (unless include_primitives is set explicitly)."""
        out = []
        for c in (classes if classes is not None else self.class_names()):
            ms = [a for a in self.assets if a.kind == "mesh" and a.cls == c]
            real = [a for a in ms if not a.is_primitive]
            if include_primitives is True:
                out += ms
            elif include_primitives is False:
                out += real
            else:
                out += real or ms
        return out

    def backgrounds(self, kind: str) -> list[AssetEntry]:
        return [a for a in self.assets if a.kind == kind]

    def clutter(self) -> list[AssetEntry]:
        """Unlabelled everyday objects (kind clutter): never a class, never an annotation. Real models win, as
        for meshes: the primitives stand in only while the manifest lists no real clutter."""
        entries = self.backgrounds("clutter")
        return [a for a in entries if not a.is_primitive] or entries

    def to_mapping(self) -> dict[str, Any]:
        return {"version": 1, "assets": [a.to_mapping() for a in self.assets]}


def class_name_ok(name: str) -> bool:
    """A class name a run can take in `--category a,b` and a COCO category: 1-64 printable characters, no
    comma, no leading or trailing space."""
    return 0 < len(name) <= 64 and name == name.strip() and "," not in name and name.isprintable()


def _err(path: Path, where: str, msg: str) -> ManifestError:
    return ManifestError(f"{path}: {where}: {msg}")


def _triple(path: Path, where: str, key: str, v: Any, positive: bool) -> tuple[float, float, float]:
    if not (isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise _err(path, where, f"field {key!r} must be a list of 3 numbers, got {v!r}")
    if not all(math.isfinite(x) for x in v):
        raise _err(path, where, f"field {key!r} must be finite, got {v!r}")
    if positive and not all(x > 0 for x in v):
        raise _err(path, where, f"field {key!r} must be > 0, got {v!r}")
    return (float(v[0]), float(v[1]), float(v[2]))


def parse_entry(path: Path, i: int, raw: Any) -> AssetEntry:
    where = f"assets[{i}]"
    if not isinstance(raw, dict):
        raise _err(path, where, f"must be a mapping, got {type(raw).__name__}")
    if "id" in raw:
        where = f"assets[{i}] (id {raw['id']!r})"
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise _err(path, where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    for k in _REQUIRED:
        if k not in raw or raw[k] in (None, ""):
            raise _err(path, where, f"missing field {k!r}")
        if not isinstance(raw[k], str):
            raise _err(path, where, f"field {k!r} must be a string, got {raw[k]!r}")
    if not _ID_RE.match(raw["id"]):
        raise _err(path, where, f"field 'id' must match {_ID_RE.pattern}, got {raw['id']!r}")
    kind, fmt = raw["kind"], raw["format"]
    if kind not in KINDS:
        raise _err(path, where, f"field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    if fmt not in FORMATS[kind]:
        raise _err(path, where, f"field 'format' must be one of {', '.join(FORMATS[kind])} for kind {kind}, got {fmt!r}")
    cls = raw.get("class")
    if kind == "mesh":
        if not isinstance(cls, str) or not cls.strip():
            raise _err(path, where, "missing field 'class' (required for meshes)")
        if "size_cm" not in raw:
            raise _err(path, where, "missing field 'size_cm' (required for meshes)")
    elif cls is not None:
        raise _err(path, where, f"field 'class' is only for meshes (kind {kind})")
    if kind == "clutter" and "size_cm" not in raw:
        raise _err(path, where, "missing field 'size_cm' (required for clutter)")
    if kind == "mesh" and not class_name_ok(cls):
        raise _err(path, where, f"field 'class' must be a name of 1-64 printable characters without commas or "
                                f"outer spaces (a real set's category name), got {cls!r}")
    if raw["licence"] not in LICENCES:
        raise _err(path, where, f"field 'licence' must be one of {', '.join(LICENCES)}, got {raw['licence']!r}")
    if fmt != "primitive":
        p = raw["path"][len("cache:"):] if raw["path"].startswith("cache:") else raw["path"]
        if ".." in Path(p).parts:
            raise _err(path, where, f"field 'path' must not contain '..', got {raw['path']!r}")
        if not p.lower().endswith("." + fmt):
            raise _err(path, where, f"field 'path' must end in .{fmt} for format {fmt}, got {raw['path']!r}")
    if fmt == "primitive" and raw["path"] not in PRIMITIVES:
        raise _err(path, where, f"field 'path' must be one of {', '.join(PRIMITIVES)} for a primitive, got {raw['path']!r}")
    sha = raw.get("sha256")
    if fmt != "primitive":
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise _err(path, where, f"field 'sha256' must be 64 lowercase hex digits, got {sha!r}")
    size = _triple(path, where, "size_cm", raw["size_cm"], True) if "size_cm" in raw else None
    rot = _triple(path, where, "rotation_deg", raw["rotation_deg"], False) if "rotation_deg" in raw else (0.0, 0.0, 0.0)
    return AssetEntry(id=raw["id"], kind=kind, format=fmt, path=raw["path"], licence=raw["licence"],
                      author=raw["author"], cls=cls, size_cm=size, rotation_deg=rot,
                      source=str(raw.get("source", "")), sha256=sha, manifest_dir=str(path.resolve().parent))


def parse_manifest(path: Path, data: Any) -> Manifest:
    if not isinstance(data, dict):
        raise _err(path, "top level", "must be a mapping with 'version' and 'assets'")
    unknown = set(data) - {"version", "assets"}
    if unknown:
        raise _err(path, "top level", f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if data.get("version") != 1:
        raise _err(path, "version", f"must be 1, got {data.get('version')!r}")
    raw_assets = data.get("assets")
    if not isinstance(raw_assets, list) or not raw_assets:
        raise _err(path, "assets", "must be a non-empty list")
    entries, seen = [], set()
    for i, raw in enumerate(raw_assets):
        e = parse_entry(path, i, raw)
        if e.id in seen:
            raise _err(path, f"assets[{i}] (id {e.id!r})", "duplicate id")
        seen.add(e.id)
        entries.append(e)
    return Manifest(path=path, assets=entries)


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """Parse and validate the manifest (structure only; `synthgap assets check` also verifies files)."""
    import yaml

    path = Path(path) if path is not None else default_manifest_path()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except yaml.YAMLError as e:
        raise ManifestError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_manifest(path, data)


def dump_manifest(manifest: Manifest, header: str = "") -> str:
    """The manifest as YAML text (entries in order, keys in schema order), after an optional comment header."""
    import yaml

    body = yaml.safe_dump(manifest.to_mapping(), sort_keys=False, allow_unicode=True, width=120,
                          default_flow_style=None)
    return header + body


def attribution(manifest: Manifest, used_asset_ids) -> dict[str, Any]:
    """Attribution for a dataset that used these assets (meshes and backgrounds).

    Returns {"licenses": [COCO-style {"id", "name", "url"} per licence used],
             "assets": [{"asset_id", "licence", "author", "source", "attribution_required"}] sorted by id,
             "text": LICENSES.txt contents}. Unknown ids raise KeyError (the manifest changed under a dataset).
    The render writer puts "licenses" and "assets" into COCO info.licenses / info.assets and writes "text"
    to DIR/LICENSES.txt."""
    by_id = {a.id: a for a in manifest.assets}
    ids = sorted(set(used_asset_ids))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"{manifest.path}: asset id(s) {', '.join(missing)} not in the manifest")
    entries = [by_id[i] for i in ids]
    lic_ids = sorted({e.licence for e in entries})
    licenses = [{"id": k + 1, "name": LICENCES[lid][0], "url": LICENCES[lid][1], "spdx": lid}
                for k, lid in enumerate(lic_ids)]
    assets = [{"asset_id": e.id, "licence": e.licence, "author": e.author, "source": e.source,
               "attribution_required": LICENCES[e.licence][2]} for e in entries]
    lines = ["This dataset was rendered by synthgap from the assets below.",
             "Assets marked [attribution required] are used under a Creative Commons Attribution licence:",
             "credit their authors when you redistribute images of this dataset.", ""]
    for lid in lic_ids:
        name, url, req = LICENCES[lid]
        group = [e for e in entries if e.licence == lid]
        lines.append(f"== {lid}: {name}{f' ({url})' if url else ''}{' [attribution required]' if req else ''}")
        for e in group:
            what = f"{e.cls} mesh" if e.kind == "mesh" else e.kind.replace("_", " ")
            lines.append(f"- {e.id} ({what}): {e.author}" + (f"; source: {e.source}" if e.source else ""))
        lines.append("")
    if not entries:
        lines.append("(no external assets: built-in primitives and plain colours only)")
    return {"licenses": licenses, "assets": assets, "text": "\n".join(lines).rstrip() + "\n"}
