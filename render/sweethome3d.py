"""Sweet Home 3D furniture libraries (`*.sh3f`, Debian package `sweethome3d-furniture`) -> manifest entries.

An `.sh3f` is a zip: `PluginFurnitureCatalog.properties` (Java properties: `key#N=value` per piece:
`id`, `name`, `category`, `model` (path of the OBJ inside the zip), `width`/`depth`/`height` in cm,
`modelRotation` (3x3 row-major matrix that stands the model up, in Sweet Home 3D's Y-up frame), `creator`),
plus one folder per model with the OBJ, its MTL and textures (and for Blend Swap a licence file).

Which catalogue pieces become which class is decided here, explicitly (CLASS_TABLE, reviewed by
tests/test_assets.py), never guessed at run time. Pure Python (zipfile + math): runs in the main env.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from render.manifest import AssetEntry, asset_cache_dir, sha256_file

DEFAULT_FURNITURE_DIR = Path("/usr/share/sweethome3d/furniture")
CACHE_SUBDIR = "sweethome3d"

# Library file stem -> (SPDX-style licence, attribution line). From each library's catalogue header.
LIBRARIES: dict[str, tuple[str, str]] = {
    "BlendSwap-CC-0": ("CC0-1.0", "Blend Swap (blendswap.com), converted to OBJ by Emmanuel Puybaret / eTeks"),
    "BlendSwap-CC-BY": ("CC-BY-3.0", "Blend Swap (blendswap.com), converted to OBJ by Emmanuel Puybaret / eTeks"),
    "KatorLegaz": ("CC-BY-3.0-US", "Copyright 2003-2008 Andrew Kator & Jennifer Legaz; Sweet Home 3D / eTeks"),
    "Reallusion": ("CC-BY-3.0-US", "Copyright 2008-2016 Reallusion; Sweet Home 3D / eTeks"),
    "Scopia": ("CC-BY-3.0", "Emmanuel Puybaret / eTeks and Scopia Visual Interfaces Systems"),
}

# Catalogue id -> COCO class. Order within a class is the import priority (CC0 first, then the most
# typical shapes), so `--max-per-class N` picks the first N. Excluded look-alikes are in EXCLUDED.
CLASS_TABLE: dict[str, str] = {
    # bottle: every bottle in the five libraries
    "Blend Swap CC-0#yogurtBottle": "bottle",
    "Blend Swap CC-0#mamadeira": "bottle",            # baby bottle
    "Blend Swap CC-0#flacon": "bottle",               # small cosmetics bottle
    "Blend Swap CC-BY#beer_bottle": "bottle",
    "Kator Legaz#red-wine-bottle-01": "bottle",
    "Kator Legaz#spray-bottle": "bottle",
    "Scopia#wine_bottle": "bottle",
    "Scopia#com_bath": "bottle",
    "Scopia#com_bath2_jabon_pijo": "bottle",
    "Scopia#medicoscopia_bottle": "bottle",
    "Scopia#medicoscopia_bottle2": "bottle",
    # cup: cups, mugs and stemless glasses (COCO's "cup"); stemmed glasses are COCO's "wine glass"
    "Blend Swap CC-0#plasticCup": "cup",
    "Blend Swap CC-0#caffe_final": "cup",
    "Blend Swap CC-0#beerGlass": "cup",
    "Blend Swap CC-BY#coffee_cup": "cup",
    "Blend Swap CC-BY#glass": "cup",
    "Kator Legaz#coffee-mug": "cup",
    "Kator Legaz#12-oz-glass": "cup",
    "Kator Legaz#highball-glass": "cup",
    "Scopia#cup": "cup",
    "Blend Swap CC-BY#cocktailGlass": "wine glass",
    # chair: upright single chairs (armchairs -> COCO would say chair too, but they are listed last)
    "Blend Swap CC-0#chair": "chair",
    "Blend Swap CC-0#chair2": "chair",
    "Blend Swap CC-0#thonet": "chair",
    "Blend Swap CC-0#plasticChair": "chair",
    "Blend Swap CC-0#sillaBlanca": "chair",
    "Blend Swap CC-0#antiqueChair": "chair",
    "Blend Swap CC-0#chairWithCushion": "chair",
    "Blend Swap CC-0#osakaChair": "chair",
    "Blend Swap CC-0#oakChair": "chair",
    "Blend Swap CC-0#designChair": "chair",
    "Kator Legaz#dining-chair": "chair",
    "Scopia#chair": "chair",                          # has a modelRotation
    "Scopia#white_kitchen_chair": "chair",
    "Scopia#tubular_chair": "chair",
    "Scopia#plastic_chair": "chair",
    "Scopia#chair3": "chair",
    "Scopia#chair4": "chair",
    "Kator Legaz#cafe-chair": "chair",
    "Blend Swap CC-BY#kitchenChair": "chair",
    "Blend Swap CC-BY#chair3": "chair",
    "Blend Swap CC-BY#chair4": "chair",
    "Blend Swap CC-BY#plaidChair": "chair",
    "Blend Swap CC-BY#ella_chair_f": "chair",
    "Blend Swap CC-BY#cafe_set_tonon_chair": "chair",
    "Blend Swap CC-BY#cafe_set_mota_chair": "chair",
    "Blend Swap CC-BY#chairWithCushion": "chair",
    "Blend Swap CC-BY#foldingChair": "chair",
    "Scopia#silla_teca": "chair",                     # has a modelRotation
    # dining table: tables one eats at (75 cm high or so), not coffee/desk/pool tables
    "Blend Swap CC-0#oakTable": "dining table",
    "Blend Swap CC-0#table": "dining table",
    "Blend Swap CC-0#tableWithTablecloth": "dining table",
    "Kator Legaz#glass-dining-table": "dining table",
    "Kator Legaz#cafe-table": "dining table",
    "Kator Legaz#folding-table": "dining table",
    "Scopia#white_kitchen_table": "dining table",
    "Scopia#round-table": "dining table",
    "Scopia#table4": "dining table",                  # has a modelRotation
    "Scopia#black_table": "dining table",             # has a modelRotation
    "Scopia#table-with-leaning-feet": "dining table",
    "Scopia#wooden_table_office": "dining table",
    "Scopia#table-on-trestles": "dining table",
    "Scopia#metal_glass_table": "dining table",
    "Blend Swap CC-BY#table": "dining table",
    "Blend Swap CC-BY#cafe_set_mota_table": "dining table",
}

# Catalogue pieces whose name looks like a class but are deliberately not mapped (reason given).
EXCLUDED: dict[str, str] = {
    "Blend Swap CC-0#tetrapak": "milk carton, not a bottle",
    "Blend Swap CC-0#cupcake": "food",
    "Blend Swap CC-0#armchair": "armchair (COCO chair, but upholstered: kept out of the plain-chair set)",
    "Blend Swap CC-0#foldingChair": "folded chair, 47 cm high",
    "Blend Swap CC-0#relaxChair": "lounger",
    "Blend Swap CC-0#deckChair": "lounger",
    "Blend Swap CC-0#poolTable": "not a dining table",
    "Blend Swap CC-0#table_football": "not a dining table",
    "Blend Swap CC-0#technicalTable1": "drawing table",
    "Blend Swap CC-0#technicalTable2": "drawing table",
    "Blend Swap CC-0#bedsideTable2": "bedside table",
    "Blend Swap CC-BY#cafe_set_tonon_table": "64 cm high side table",
    "Blend Swap CC-BY#coffeeTable": "coffee table",
    "Blend Swap CC-BY#childChair": "child chair",
    "Blend Swap CC-BY#chair_deck": "lounger",
    "Scopia#ext_table": "40 cm high garden table",
    "Scopia#table3": "90 cm high bar-height table",
    "Scopia#bar_chair": "bar stool",
    "Blend Swap CC-BY#luckyBamboo": "its MTL names a texture the package lacks (Bamboo/Textures/Granite.jpg)",
}

# Clutter (manifest kind `clutter`): every catalogue piece small enough for a table top - no side over
# CLUTTER_MAX_CM, at least CLUTTER_MIN_CM high - that is neither a class model (CLASS_TABLE, EXCLUDED) nor
# looks like a target: names matching LOOKALIKE (bottles, cups, glasses, jars, vases, seats, tables...) stay
# out, so a clutter object is never an unlabelled bottle or cup, and neither do the wall and ceiling fittings
# (WALL_FITTING) nor the categories in CLUTTER_SKIP_CATEGORIES. `clutter_split()` returns both lists, with
# the reason for each piece left out (tests/test_assets.py reviews them).
CLUTTER_MAX_CM = 60.0
CLUTTER_MIN_CM = 3.0
CLUTTER_SKIP_CATEGORIES = ("Doors and windows", "Staircases", "Vehicles")
LOOKALIKE = re.compile(r"bottle|flacon|\bcups?\b|cup\b|mug|glass|jar\b|\bpot\b|pott|creamer|milk|shaker|\boil\b|"
                       r"yogh?urt|vase|chair|table|stool|\bcan\b|carton|tetrapak|kettle|teapot|coffee|espresso|"
                       r"spice|sugar|butter|soap|lip ?stick|medicine|cosmetic|candle|squeezer|grinder|blender|"
                       r"mixer|thermos|flask|wine|beer|cocktail|lily|orchid|tulip|flower", re.I)   # flowers: in vases
WALL_FITTING = re.compile(r"plug|switch|socket|intercom|\bwall\b|ceiling|fluorescent|smoke detector|surveillance|"
                          r"cctv|emergency|entry|porch|radiator|boiler|hood|towel rack|toilet paper|hanger|bell|"
                          r"lantern|outdoor|garden|faucet|hose", re.I)


def clutter_split(pieces: dict[str, CataloguePiece]) -> tuple[list[CataloguePiece], dict[str, str]]:
    """(the clutter pieces in catalogue-id order, {catalogue id: why left out} for the other small ones)."""
    keep, out = [], {}
    for cat_id in sorted(pieces):
        p = pieces[cat_id]
        if max(p.width, p.depth, p.height) > CLUTTER_MAX_CM or p.height < CLUTTER_MIN_CM:
            continue
        text = f"{p.name} {cat_id.split('#', 1)[-1]}"
        why = ("a class model" if cat_id in CLASS_TABLE else EXCLUDED.get(cat_id) or
               (f"category {p.category}" if p.category in CLUTTER_SKIP_CATEGORIES else None) or
               (f"looks like a target ({LOOKALIKE.search(text).group(0)!r})" if LOOKALIKE.search(text) else None) or
               (f"a wall or outdoor fitting ({WALL_FITTING.search(text).group(0)!r})"
                if WALL_FITTING.search(text) else None))
        if why:
            out[cat_id] = why
        else:
            keep.append(p)
    return keep, out


# Floor textures taken from CC0 models of the package (photo textures of wood and marble).
FLOOR_TEXTURES: dict[str, tuple[str, str]] = {
    # asset id -> (library stem, path inside the zip)
    "sh3d-floor-wood013": ("BlendSwap-CC-0", "blendswap-cc-0/table/Wood_013_COLOR.jpg"),
    "sh3d-floor-marble14": ("BlendSwap-CC-0", "blendswap-cc-0/lowerCabinet/marble_14.jpg"),
}


@dataclass(frozen=True)
class CataloguePiece:
    library: str          # file stem, e.g. BlendSwap-CC-0
    index: int            # N in key#N
    cat_id: str           # catalogue id, e.g. "Blend Swap CC-0#chair"
    name: str
    category: str
    model: str            # path inside the zip (no leading /)
    width: float
    depth: float
    height: float
    model_rotation: tuple[float, ...] | None
    creator: str

    @property
    def model_dir(self) -> str:
        return self.model.rsplit("/", 1)[0] if "/" in self.model else ""


_UNI = re.compile(r"\\u([0-9a-fA-F]{4})")


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties (the subset Sweet Home 3D writes): key=value, # comments, \\uXXXX, continuations."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        m = re.match(r"((?:[^=:\s\\]|\\.)+)\s*[=:]?\s*(.*)$", line)
        if not m:
            continue
        key, val = m.group(1), m.group(2)
        val = _UNI.sub(lambda mm: chr(int(mm.group(1), 16)), val)
        out[key.replace("\\", "")] = val.replace("\\\\", "\\")
    return out


def read_catalogue(sh3f: Path) -> list[CataloguePiece]:
    try:
        with zipfile.ZipFile(sh3f) as z:
            text = z.read("PluginFurnitureCatalog.properties").decode("latin-1")
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{sh3f}: not a Sweet Home 3D furniture library ({e})") from None
    props = parse_properties(text)
    by_index: dict[int, dict[str, str]] = {}
    for k, v in props.items():
        m = re.fullmatch(r"(\w+)#(\d+)", k)
        if m:
            by_index.setdefault(int(m.group(2)), {})[m.group(1)] = v
    pieces = []
    for n, p in sorted(by_index.items()):
        if "id" not in p or "model" not in p:
            continue
        try:
            w, d, h = float(p["width"]), float(p["depth"]), float(p["height"])
        except (KeyError, ValueError):
            raise ValueError(f"{sh3f}: PluginFurnitureCatalog.properties: piece #{n} ({p.get('id')}): "
                             "bad width/depth/height") from None
        rot = None
        if p.get("modelRotation"):
            vals = tuple(float(x) for x in p["modelRotation"].split())
            if len(vals) != 9:
                raise ValueError(f"{sh3f}: PluginFurnitureCatalog.properties: piece #{n} ({p['id']}): "
                                 f"modelRotation must hold 9 numbers, got {p['modelRotation']!r}")
            rot = vals
        pieces.append(CataloguePiece(sh3f.stem, n, p["id"], p.get("name", ""), p.get("category", ""),
                                     p["model"].lstrip("/"), w, d, h, rot, p.get("creator", "")))
    return pieces


def read_all(furniture_dir: Path = DEFAULT_FURNITURE_DIR) -> dict[str, CataloguePiece]:
    """Catalogue id -> piece over every *.sh3f in the folder."""
    files = sorted(Path(furniture_dir).glob("*.sh3f"))
    if not files:
        raise ValueError(f"{furniture_dir}: no *.sh3f files (install the Debian package sweethome3d-furniture)")
    out: dict[str, CataloguePiece] = {}
    for f in files:
        for p in read_catalogue(f):
            out.setdefault(p.cat_id, p)
    return out


# ---- geometry: Sweet Home 3D's Y-up modelRotation -> Blender XYZ Euler (Z-up) -----------------------
# Blender's OBJ importer (forward -Z, up Y) maps an OBJ point (x, y, z) to (x, -z, y): C below.
_C = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


def _matmul(a, b):
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))


def _transpose(a):
    return tuple(tuple(a[j][i] for j in range(3)) for i in range(3))


def blender_rotation(model_rotation: tuple[float, ...] | None) -> tuple[float, float, float]:
    """XYZ Euler degrees (Blender convention R = Rz Ry Rx) applying `modelRotation` after OBJ import."""
    if model_rotation is None:
        return (0.0, 0.0, 0.0)
    m = tuple(tuple(model_rotation[3 * r:3 * r + 3]) for r in range(3))
    r = _matmul(_matmul(_C, m), _transpose(_C))
    sy = -r[2][0]
    sy = max(-1.0, min(1.0, sy))
    ry = math.asin(sy)
    if abs(math.cos(ry)) > 1e-6:
        rx = math.atan2(r[2][1], r[2][2])
        rz = math.atan2(r[1][0], r[0][0])
    else:  # gimbal lock: put it all in x
        rz = 0.0
        rx = math.atan2(-r[1][2], r[1][1])
    out = []
    for a in (rx, ry, rz):
        d = round(math.degrees(a), 3)
        out.append(0.0 if d == 0 else d)  # no -0.0 in the manifest
    return (out[0], out[1], out[2])


def asset_id(piece: CataloguePiece) -> str:
    lib = {"BlendSwap-CC-0": "bs0", "BlendSwap-CC-BY": "bsby", "KatorLegaz": "kl", "Reallusion": "rl",
           "Scopia": "scopia"}.get(piece.library, piece.library.lower())
    local = piece.cat_id.split("#", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"([a-z])([A-Z])", r"\1-\2", local).lower()).strip("-")
    return f"sh3d-{lib}-{slug}"


def cache_path(piece: CataloguePiece) -> str:
    return f"cache:{CACHE_SUBDIR}/{piece.model}"


def blendswap_licence(z: zipfile.ZipFile, piece: CataloguePiece) -> str | None:
    """The per-model Blend Swap licence line ('Released under ...'), if the model folder has one."""
    name = f"{piece.model_dir}/BLENDSWAP_LICENSE.txt"
    try:
        text = z.read(name).decode("latin-1")
    except KeyError:
        return None
    m = re.search(r"Released under\s*\n\s*(.+)", text)
    return m.group(1).strip() if m else None


def extract_model(piece: CataloguePiece, furniture_dir: Path, dest_root: Path | None = None) -> Path:
    """Extract the model's folder (OBJ, MTL, textures, licence) to <cache>/assets/sweethome3d/<folder>/.
    Atomic per folder: a temp folder renamed into place. Returns the OBJ's path."""
    dest_root = Path(dest_root) if dest_root is not None else asset_cache_dir() / CACHE_SUBDIR
    final = dest_root / piece.model_dir
    obj = dest_root / piece.model
    if obj.exists():
        return obj
    sh3f = Path(furniture_dir) / f"{piece.library}.sh3f"
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(sh3f) as z:
        prefix = piece.model_dir + "/"
        members = [m for m in z.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
        if not any(m.filename == piece.model for m in members):
            raise ValueError(f"{sh3f}: model {piece.model} of {piece.cat_id} not in the archive")
        for m in members:
            rel = m.filename[len(prefix):]
            if ".." in Path(rel).parts or rel.startswith("/"):
                raise ValueError(f"{sh3f}: unsafe member name {m.filename!r}")
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return obj


def extract_member(library: str, member: str, furniture_dir: Path, dest_root: Path | None = None) -> Path:
    """Extract one file (e.g. a texture) to <cache>/assets/sweethome3d/<member>, atomically."""
    dest_root = Path(dest_root) if dest_root is not None else asset_cache_dir() / CACHE_SUBDIR
    target = dest_root / member
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(Path(furniture_dir) / f"{library}.sh3f") as z, z.open(member) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, target)
    return target


def obj_extent(obj: Path) -> tuple[float, float, float]:
    """Bounding-box extent of an OBJ's vertices in its own (Y-up) coordinates."""
    lo = [math.inf] * 3
    hi = [-math.inf] * 3
    with open(obj, encoding="latin-1") as f:
        for line in f:
            if line.startswith("v "):
                p = line.split()
                for i in range(3):
                    v = float(p[1 + i])
                    lo[i] = min(lo[i], v)
                    hi[i] = max(hi[i], v)
    if lo[0] == math.inf:
        raise ValueError(f"{obj}: no vertices")
    return (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])


def blender_extent(ext_yup: tuple[float, float, float], rotation_deg: tuple[float, float, float]) -> tuple[float, ...]:
    """Extent in Blender (Z-up) after import and rotation_deg (bounding box of the rotated box)."""
    x, y, z = (math.radians(a) for a in rotation_deg)
    cx, sx, cy, sy, cz, sz = math.cos(x), math.sin(x), math.cos(y), math.sin(y), math.cos(z), math.sin(z)
    rx = ((1, 0, 0), (0, cx, -sx), (0, sx, cx))
    ry = ((cy, 0, sy), (0, 1, 0), (-sy, 0, cy))
    rz = ((cz, -sz, 0), (sz, cz, 0), (0, 0, 1))
    r = _matmul(_matmul(_matmul(rz, ry), rx), _C)
    return tuple(sum(abs(r[i][k]) * ext_yup[k] for k in range(3)) for i in range(3))


def fit_size(size: tuple[float, float, float], ext: tuple[float, ...]) -> tuple[tuple[float, float, float], bool]:
    """The catalogue size, with width/depth swapped when that matches the rotated model's proportions much
    better (some catalogue pieces give them before modelRotation). Returns (size, swapped)."""
    def spread(sz):
        f = [sz[i] / ext[i] for i in range(3) if ext[i] > 1e-9]
        return max(f) / min(f) if f and min(f) > 0 else math.inf
    swapped = (size[1], size[0], size[2])
    if spread(size) > 1.1 and spread(swapped) < spread(size) / 1.1:
        return swapped, True
    return size, False


def entry_for(piece: CataloguePiece, cls: str | None, furniture_dir: Path, dest_root: Path | None = None,
              kind: str = "mesh") -> AssetEntry:
    """Extract the model and describe it as a manifest entry of `kind` (mesh with class `cls`, or clutter
    with none; checksum of the extracted OBJ)."""
    obj = extract_model(piece, furniture_dir, dest_root)
    licence, lib_author = LIBRARIES.get(piece.library, ("", ""))
    with zipfile.ZipFile(Path(furniture_dir) / f"{piece.library}.sh3f") as z:
        bs = blendswap_licence(z, piece)
    if bs:  # the model's own licence file wins over the library default
        licence = {"Creative Commons Zero (Public Domain)": "CC0-1.0",
                   "Creative Commons Attribution 3.0": "CC-BY-3.0"}.get(bs, licence)
    if not licence:
        raise ValueError(f"{piece.library}.sh3f: no known licence for {piece.cat_id}")
    author = f"{piece.creator} ({lib_author})" if piece.creator else lib_author
    rot = blender_rotation(piece.model_rotation)
    size, swapped = fit_size((piece.width, piece.depth, piece.height), blender_extent(obj_extent(obj), rot))
    return AssetEntry(id=asset_id(piece), kind=kind, format="obj", path=cache_path(piece), licence=licence,
                      author=author, cls=cls, size_cm=size, rotation_deg=rot,
                      source=f"Debian sweethome3d-furniture: {piece.library}.sh3f, {piece.cat_id} "
                             f"({piece.name!r}, category {piece.category!r})"
                             + ("; catalogue width/depth swapped to match the model" if swapped else ""),
                      sha256=sha256_file(obj))


def floor_entries(furniture_dir: Path, dest_root: Path | None = None) -> list[AssetEntry]:
    out = []
    for aid, (lib, member) in FLOOR_TEXTURES.items():
        p = extract_member(lib, member, furniture_dir, dest_root)
        licence, author = LIBRARIES[lib]
        out.append(AssetEntry(id=aid, kind="floor_texture", format=member.rsplit(".", 1)[1].lower(),
                              path=f"cache:{CACHE_SUBDIR}/{member}", licence=licence, author=author,
                              source=f"Debian sweethome3d-furniture: {lib}.sh3f, {member}", sha256=sha256_file(p)))
    return out


def select(pieces: dict[str, CataloguePiece], classes: list[str], max_per_class: int | None = None,
           table: dict[str, str] | None = None) -> list[tuple[CataloguePiece, str]]:
    """The table's pieces of the given classes, in table order, at most max_per_class each."""
    table = CLASS_TABLE if table is None else table
    unknown = [c for c in classes if c not in set(table.values())]
    if unknown:
        raise ValueError(f"class(es) {', '.join(map(repr, unknown))} have no Sweet Home 3D models in "
                         f"render/sweethome3d.py CLASS_TABLE (known: {', '.join(sorted(set(table.values())))})")
    out, counts = [], {c: 0 for c in classes}
    for cat_id, cls in table.items():
        if cls not in counts or (max_per_class is not None and counts[cls] >= max_per_class):
            continue
        if cat_id not in pieces:
            raise ValueError(f"CLASS_TABLE lists {cat_id!r}, which no installed *.sh3f holds")
        out.append((pieces[cat_id], cls))
        counts[cls] += 1
    return out
