"""assets_manifest.yaml: every mesh and background the renderer may use (pure Python: yaml only).

Loaded in both environments (the main env for checks and category ids, the render env inside Blender).
Schema (one mapping):

    version: 1
    assets:
      - id: sh3d-bottle-wine            # unique, [a-z0-9._-]
        class: bottle                   # COCO-style class name (meshes); backgrounds have no class
        kind: mesh                      # mesh | hdri | floor_texture
        format: obj                     # obj | primitive | exr | hdr | png | jpg
        path: cache:sweethome3d/x.obj   # relative to the manifest's folder, absolute, or `cache:` =
                                        #   $SYNTHGAP_CACHE/assets/ ; for format primitive: cube|cylinder|sphere|cone
        size_cm: [7.5, 7.5, 30]         # real-world width (x), depth (y), height (z) after `rotation_deg`
        rotation_deg: [90, 0, 0]        # XYZ Euler (degrees) that makes the model Z-up and upright
        licence: CC0-1.0
        author: Poly Haven
        source: where it came from (package, file)
        sha256: <hex>                   # of the file; required unless format is primitive

Category ids are stable across every dataset: the sorted mesh class names -> 1..n.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("mesh", "hdri", "floor_texture")
FORMATS = {"mesh": ("obj", "primitive"), "hdri": ("exr", "hdr"), "floor_texture": ("png", "jpg")}
PRIMITIVES = ("cube", "cylinder", "sphere", "cone")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
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

    def to_mapping(self) -> dict[str, Any]:
        return {"version": 1, "assets": [a.to_mapping() for a in self.assets]}


def _err(path: Path, where: str, msg: str) -> ManifestError:
    return ManifestError(f"{path}: {where}: {msg}")


def _triple(path: Path, where: str, key: str, v: Any, positive: bool) -> tuple[float, float, float]:
    if not (isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise _err(path, where, f"field {key!r} must be a list of 3 numbers, got {v!r}")
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
