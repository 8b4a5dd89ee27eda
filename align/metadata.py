"""Metadata tables of COCO datasets (docs/design.md §4), after the thesis "Minimizing Gaps Between Synthetic
And Real Datasets" (§4.6): one row per annotation (`level="bbox"`) and one per image (`level="image"`).

Definitions. `I` is the 8-bit luma (0-255) of the image as OpenCV decodes it with IMREAD_GRAYSCALE (for JPEG
the Y channel, BT.601; EXIF orientation ignored, as COCO boxes refer to the stored pixel grid). A box `[x, y, w, h]` (pixels, clipped to the image) covers the pixel region
columns floor(x) .. ceil(x+w)-1 and rows floor(y) .. ceil(y+h)-1 (at least one pixel); an image row uses
the whole image.

Geometry (bbox rows; NaN on image rows):
- `area_px`  = w·h, the box area in pixels (the COCO `area` field, a mask area, is not used);
- `area_frac` = w·h / (W·H), the share of the image the box covers (resolution independent);
- `aspect`   = w / h;
- `cx`, `cy` = box centre (x + w/2) / W and (y + h/2) / H, in [0, 1], y down (0 = top edge).

Image statistics (inside the box on bbox rows, over the whole image on image rows):
- `sharpness`  = variance of the Laplacian of I over the region (3x3 4-neighbour kernel
  [[0,1,0],[1,-4,1],[0,1,0]], reflect-101 at the image border), in (grey levels)²; 0 for a flat region;
- `blur`       = 1 - E_hf / E, the share of the region's signal energy that is *not* high frequency:
  E = Σ (I - mean I)² over the region and E_hf = Σ (I - G₁*I)², G₁ a Gaussian of σ = 1 px (the energy that
  a 1-px blur removes). Clipped to [0, 1]; 1 = no detail finer than ~2 px (blurred), lower = crisper; NaN for a
  flat region (E = 0);
- `entropy`    = Shannon entropy in bits of the 256-bin histogram of I in the region, -Σ p log2 p (0..8);
- `brightness` = mean of I (0-255);
- `contrast`   = RMS contrast, the standard deviation of I (0-255);
- `boxes_per_image` = annotations of the image kept by the category filter (on both levels).

From a render sidecar (docs/design.md §2; NaN without one or when a value is absent):
- `depth` = the object's median camera distance over its visible pixels (m, sidecar `depth_median`);
- `visible_px` = visible mask pixels; `occlusion_ad2` = visible_px · depth² (a size-at-unit-distance
  indicator: it drops below the unoccluded value when the object is occluded or cut);
- `bg_similarity` = cosine similarity of the colour histograms of the object's outline and of the background
  ring around it (1 = blends into the background); `asset_id` = the mesh id (shape), a string column;
- `camera_distance`, `camera_elevation_deg` = the image's camera (on both levels).

Every image is read once; all box statistics of an image come from four summed-area tables (I, I², L, L²
and (I - G₁*I)²), so the cost is a few full-image passes plus one histogram per box.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from core.coco import CocoSet, load_coco
from core.progress import Progress
from core.errors import UserError
from core.io import atomic_write_json, atomic_write_text, read_json

STR_COLUMNS = ("dataset", "category", "level", "asset_id")
BASE_COLUMNS = ["dataset", "image_id", "ann_id", "category", "level", "area_px", "area_frac", "aspect", "cx",
                "cy", "sharpness", "blur", "entropy", "brightness", "contrast", "boxes_per_image"]
SIDECAR_COLUMNS = ["depth", "visible_px", "occlusion_ad2", "bg_similarity", "asset_id", "camera_distance",
                   "camera_elevation_deg"]
IMAGE_STATS = ["sharpness", "blur", "entropy", "brightness", "contrast"]
NUMERIC_METADATA = ["area_px", "area_frac", "aspect", "cx", "cy", "sharpness", "blur", "entropy", "brightness",
                    "contrast", "boxes_per_image", "depth", "visible_px", "occlusion_ad2", "bg_similarity",
                    "camera_distance", "camera_elevation_deg"]
LEVELS = ("bbox", "image")
BLUR_SIGMA = 1.0


def check_names(names: list[str], option: str = "--metadata") -> list[str]:
    """Every name a numeric metadata, else a one-line UserError naming the option. -> names."""
    bad = [m for m in names if m not in NUMERIC_METADATA]
    if bad:
        raise UserError(f"{option}: unknown {bad} (choose from {', '.join(NUMERIC_METADATA)})")
    return names


@dataclass
class MetadataTable:
    """Columns of equal length (numpy arrays: float64 with NaN for missing, object arrays for strings)."""
    dataset: str
    data: dict[str, np.ndarray]
    skipped: list[str] = field(default_factory=list)

    # ---- access --------------------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        return list(self.data)

    def __len__(self) -> int:
        return len(self.data["level"]) if "level" in self.data else 0

    def _mask(self, level: str | None) -> np.ndarray:
        if level is None:
            return np.ones(len(self), bool)
        if level not in LEVELS:
            raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        return self.data["level"] == level

    def n(self, level: str = "bbox") -> int:
        return int(self._mask(level).sum())

    def values(self, name: str, level: str | None = "bbox") -> np.ndarray:
        """Float values of one numeric column at a level (NaN = missing). A known sidecar column that this
        table lacks gives all-NaN; an unknown name is a UserError."""
        m = self._mask(level)
        if name not in self.data:
            if name in NUMERIC_METADATA or name in ("image_id", "ann_id"):
                return np.full(int(m.sum()), np.nan)
            raise UserError(f"metadata {name!r} not in table {self.dataset!r} (columns: {', '.join(self.columns)})")
        if name in STR_COLUMNS:
            raise UserError(f"metadata {name!r} is not numeric")
        return np.asarray(self.data[name][m], dtype=float)

    def strings(self, name: str, level: str | None = "bbox") -> list:
        m = self._mask(level)
        if name not in self.data:
            return [None] * int(m.sum())
        return list(self.data[name][m])

    def has(self, name: str, level: str | None = None) -> bool:
        """True when the column holds at least one finite (or, for strings, non-empty) value."""
        if name not in self.data:
            return False
        m = self._mask(level)
        col = self.data[name][m]
        if name in STR_COLUMNS:
            return any(v not in (None, "") for v in col)
        return bool(np.isfinite(col.astype(float)).any())

    def rows(self, level: str | None = "bbox") -> list[dict]:
        m = np.flatnonzero(self._mask(level))
        out = []
        for i in m:
            r = {}
            for k, col in self.data.items():
                v = col[i]
                if k in STR_COLUMNS:
                    r[k] = v
                else:
                    v = float(v)
                    r[k] = int(v) if k in ("image_id", "ann_id") and math.isfinite(v) else v
            out.append(r)
        return out

    def numeric_columns(self) -> list[str]:
        return [c for c in self.columns if c not in STR_COLUMNS and c not in ("image_id", "ann_id")]

    def subset(self, mask: np.ndarray, dataset: str | None = None) -> "MetadataTable":
        return MetadataTable(dataset or self.dataset, {k: v[mask] for k, v in self.data.items()})

    @staticmethod
    def concat(tables: list["MetadataTable"], dataset: str) -> "MetadataTable":
        cols: list[str] = []
        for t in tables:
            cols += [c for c in t.columns if c not in cols]
        data = {}
        for c in cols:
            parts = []
            for t in tables:
                if c in t.data:
                    parts.append(t.data[c])
                elif c in STR_COLUMNS:
                    parts.append(np.array([None] * len(t), dtype=object))
                else:
                    parts.append(np.full(len(t), np.nan))
            data[c] = np.concatenate(parts) if parts else np.array([])
            if c in STR_COLUMNS:
                data[c] = data[c].astype(object)
        if "dataset" in data:
            data["dataset"] = np.array([dataset] * len(data["dataset"]), dtype=object)
        return MetadataTable(dataset, data)

    def summary(self, level: str = "bbox") -> list[dict]:
        """[{name, n, mean, std, min, median, max}] per numeric column with a finite value at `level`."""
        out = []
        for c in self.numeric_columns():
            v = self.values(c, level)
            v = v[np.isfinite(v)]
            if v.size:
                out.append({"name": c, "n": int(v.size), "mean": float(v.mean()), "std": float(v.std()),
                            "min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())})
        return out

    # ---- files ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """`.csv` -> CSV (header = columns, empty cell = NaN); anything else -> JSON
        {"dataset", "columns", "data": {column: [values, null = NaN]}}."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(self.columns)
            cols = [self.data[c] for c in self.columns]
            for i in range(len(self)):
                w.writerow([_cell(c, col[i]) for c, col in zip(self.columns, cols)])
            atomic_write_text(path, buf.getvalue())
        else:
            data = {c: [_json_val(c, v) for v in self.data[c]] for c in self.columns}
            atomic_write_json(path, {"dataset": self.dataset, "columns": self.columns, "data": data}, indent=None)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MetadataTable":
        path = Path(path)
        if path.suffix.lower() == ".csv":
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    rows = list(csv.reader(f))
            except FileNotFoundError:
                raise UserError(f"{path}: metadata table not found") from None
            if not rows or "level" not in rows[0]:
                raise UserError(f"{path}: not a metadata table (no header with a 'level' column)")
            head, body = rows[0], rows[1:]
            data = {}
            for j, c in enumerate(head):
                raw = [r[j] if j < len(r) else "" for r in body]
                if c in STR_COLUMNS:
                    data[c] = np.array([v if v != "" else None for v in raw], dtype=object)
                else:
                    try:
                        data[c] = np.array([float(v) if v != "" else np.nan for v in raw], dtype=float)
                    except ValueError as e:
                        raise UserError(f"{path}: column {c!r}: not numeric ({e})") from None
            ds = data["dataset"][0] if len(body) and "dataset" in data else path.stem
            return cls(str(ds), data)
        d = read_json(path, "metadata table")
        if not isinstance(d, dict) or "data" not in d or "columns" not in d:
            raise UserError(f"{path}: not a metadata table (needs 'columns' and 'data')")
        data = {}
        for c in d["columns"]:
            raw = d["data"].get(c)
            if raw is None:
                raise UserError(f"{path}: column {c!r} listed but missing from 'data'")
            if c in STR_COLUMNS:
                data[c] = np.array(raw, dtype=object)
            else:
                data[c] = np.array([np.nan if v is None else v for v in raw], dtype=float)
        return cls(str(d.get("dataset", path.stem)), data)


def _cell(col: str, v) -> str:
    if col in STR_COLUMNS:
        return "" if v is None else str(v)
    v = float(v)
    if not math.isfinite(v):
        return ""
    return str(int(v)) if col in ("image_id", "ann_id") else repr(v)


def _json_val(col: str, v):
    if col in STR_COLUMNS:
        return v
    v = float(v)
    if not math.isfinite(v):
        return None
    return int(v) if col in ("image_id", "ann_id") else v


# ---------------------------------------------------------------------------------------------- statistics
def _box_sums(S: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Sums over regions r = (N, 4) [x0, y0, x1, y1) from a summed-area table S of shape (H+1, W+1)."""
    x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
    return S[y1, x1] - S[y0, x1] - S[y1, x0] + S[y0, x0]


def pixel_regions(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) float [x, y, w, h] -> int [x0, y0, x1, y1) covering the box, clipped, at least 1 px."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    x0 = np.clip(np.floor(b[:, 0] + 1e-9), 0, width - 1)
    y0 = np.clip(np.floor(b[:, 1] + 1e-9), 0, height - 1)
    x1 = np.clip(np.ceil(b[:, 0] + b[:, 2] - 1e-9), x0 + 1, width)
    y1 = np.clip(np.ceil(b[:, 1] + b[:, 3] - 1e-9), y0 + 1, height)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def region_stats(gray: np.ndarray, regions: np.ndarray) -> dict[str, np.ndarray]:
    """Image statistics (module docstring) of uint8 luma `gray` over int regions (N, 4) [x0, y0, x1, y1)."""
    import cv2

    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    g = gray.astype(np.float64)
    lap = cv2.Laplacian(g, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    hp = g - cv2.GaussianBlur(g, (0, 0), BLUR_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    s_g, sq_g = cv2.integral2(g, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    s_l, sq_l = cv2.integral2(lap, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    s_h = cv2.integral(hp * hp, sdepth=cv2.CV_64F)
    r = np.asarray(regions, dtype=np.int64).reshape(-1, 4)
    n = ((r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])).astype(np.float64)
    mean = _box_sums(s_g, r) / n
    var = np.maximum(_box_sums(sq_g, r) / n - mean * mean, 0.0)
    lmean = _box_sums(s_l, r) / n
    lvar = np.maximum(_box_sums(sq_l, r) / n - lmean * lmean, 0.0)
    e_hf = _box_sums(s_h, r)
    e_tot = var * n
    flat = e_tot <= 1e-9 * np.maximum(n, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        blur = np.where(flat, np.nan, 1.0 - np.clip(e_hf / np.where(flat, 1.0, e_tot), 0.0, 1.0))
    ent = np.empty(len(r))
    for i, (x0, y0, x1, y1) in enumerate(r):
        h = np.bincount(gray[y0:y1, x0:x1].ravel(), minlength=256).astype(np.float64)
        p = h[h > 0] / n[i]
        ent[i] = float(-(p * np.log2(p)).sum()) + 0.0
    # tiny negative values from summed-area cancellation on flat regions -> exact 0
    lvar[lvar < 1e-9] = 0.0
    return {"sharpness": lvar, "blur": blur, "entropy": ent, "brightness": mean, "contrast": np.sqrt(var)}


def read_gray(path: Path) -> np.ndarray | None:
    import cv2

    # EXIF orientation is ignored: COCO boxes and width/height refer to the stored pixel grid
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)


# ---------------------------------------------------------------------------------------------- tables
def _load_sidecar(sidecar: str | os.PathLike | None) -> tuple[dict, dict] | None:
    if sidecar is None:
        return None
    d = read_json(sidecar, "sidecar")
    if not isinstance(d, dict) or not isinstance(d.get("images", {}), dict) or \
            not isinstance(d.get("annotations", {}), dict):
        raise UserError(f"{sidecar}: not a sidecar (needs objects 'images' and 'annotations')")
    return d.get("images", {}), d.get("annotations", {})


def _num(d: dict, key: str) -> float:
    v = d.get(key) if isinstance(d, dict) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return float("nan")


def table_from_coco(cs: CocoSet, *, sidecar: str | os.PathLike | None = None, dataset: str = "",
                    skip_invalid: bool = False, progress: bool = False) -> MetadataTable:
    """The metadata table of a loaded CocoSet (see the module docstring for the definitions)."""
    import contextlib
    side = _load_sidecar(sidecar)
    cols = BASE_COLUMNS + (SIDECAR_COLUMNS if side is not None else [])
    out: dict[str, list] = {c: [] for c in cols}
    skipped = list(cs.skipped)
    by_image = cs.annotations_by_image()
    dataset = dataset or cs.json_path.parent.name
    with Progress(len(cs.images), f"metadata {dataset}") if progress else contextlib.nullcontext() as bar:
        for im in cs.images:
            path = cs.image_path(im)
            gray = read_gray(path)
            msg = _unreadable(im, path, gray)
            if msg and not skip_invalid:
                raise UserError(f"{cs.json_path}: {msg}")
            if msg:
                skipped.append(msg)
            for row in [] if msg else _rows(cs, im, gray, by_image[int(im["id"])], side, dataset):
                for c in cols:
                    out[c].append(row.get(c, float("nan")))
            if bar:
                bar.update(1)
    data = {c: (np.array(v, dtype=object) if c in STR_COLUMNS else np.array(v, dtype=float)) for c, v in out.items()}
    return MetadataTable(dataset, data, skipped)


def _unreadable(im: dict, path, gray) -> str | None:
    """Why an image cannot be measured (unreadable, or another size than its record), or None."""
    W, H = int(round(float(im["width"]))), int(round(float(im["height"])))
    if gray is None:
        return f"image id {im['id']}: field 'file_name': {path} is not a readable image"
    if gray.shape[:2] != (H, W):
        return (f"image id {im['id']}: field 'width'/'height': COCO says {W}x{H} but {path} is "
                f"{gray.shape[1]}x{gray.shape[0]}")
    return None


def _rows(cs: CocoSet, im: dict, gray, anns: list[dict], side, dataset: str) -> list[dict]:
    """One image's rows: a bbox row per annotation, then the image row (module docstring)."""
    iid = int(im["id"])
    W, H = int(round(float(im["width"]))), int(round(float(im["height"])))
    boxes = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
    st = region_stats(gray, np.concatenate([pixel_regions(boxes, W, H), np.array([[0, 0, W, H]])], axis=0))
    iside = side[0].get(str(iid), {}) if side else {}
    camera = {"camera_distance": _num(iside, "camera_distance"),
              "camera_elevation_deg": _num(iside, "camera_elevation_deg")} if side is not None else {}
    nb, rows = float(len(anns)), []
    for k, a in enumerate(anns):
        x, y, w, h = boxes[k]
        row = {"dataset": dataset, "image_id": iid, "ann_id": int(a["id"]),
               "category": cs.categories.get(a["category_id"]), "level": "bbox",
               "area_px": w * h, "area_frac": w * h / (W * H), "aspect": w / h,
               "cx": (x + w / 2) / W, "cy": (y + h / 2) / H, "boxes_per_image": nb,
               **{s: float(st[s][k]) for s in IMAGE_STATS}}
        if side is not None:
            aside = side[1].get(str(a["id"]), {})
            row.update(depth=_num(aside, "depth_median"), visible_px=_num(aside, "visible_px"),
                       occlusion_ad2=_num(aside, "occlusion_ad2"), bg_similarity=_num(aside, "bg_similarity"),
                       asset_id=aside.get("asset_id") if isinstance(aside, dict) else None, **camera)
        rows.append(row)
    rows.append({"dataset": dataset, "image_id": iid, "ann_id": float("nan"), "category": cs.category,
                 "level": "image", "boxes_per_image": nb, "asset_id": None,
                 **{s: float(st[s][-1]) for s in IMAGE_STATS}, **camera})
    return rows


METADATA_VERSION = 1   # bump when a definition above changes: cached tables are then recomputed


def _cache_path(cs: CocoSet, sidecar: str | os.PathLike | None) -> Path:
    """The cache file of a table: keyed by the COCO json's bytes, the sidecar's bytes, the category filter, the
    kept image ids and the image files' names, sizes and mtimes (so an edited or replaced image recomputes)."""
    import hashlib

    from core.envs import cache_dir
    from core.io import file_fingerprint
    h = hashlib.sha256(f"v{METADATA_VERSION}\0{cs.category}\0".encode())
    for f in [cs.json_path] + ([Path(sidecar)] if sidecar else []):
        h.update(hashlib.sha256(Path(f).read_bytes()).digest())
    h.update(json.dumps(sorted(int(im["id"]) for im in cs.images)).encode())
    h.update(file_fingerprint([cs.image_path(im).resolve() for im in cs.images]).encode())
    return cache_dir() / "metadata" / f"{h.hexdigest()[:24]}.json"


def compute_metadata(coco_json: str | os.PathLike, images_dir: str | os.PathLike | None = None, *,
                     category: str | int | None = None, image_ids: Iterable[int] | None = None,
                     sidecar: str | os.PathLike | None = None, dataset: str = "", skip_invalid: bool = False,
                     progress: bool = False, cache: bool = True) -> MetadataTable:
    """Metadata table of a COCO json + image folder (design.md §4). `image_ids` (e.g. a split's exposed ids)
    and `category` (name or id) filter; `sidecar` = path of a render sidecar.json (None = no sidecar).
    Bad input -> UserError naming file, image id and field; `skip_invalid` records and skips instead
    (`table.skipped`). The one metadata cache: a table is computed once per content (`_cache_path`, under
    $SYNTHGAP_CACHE/metadata/) and read back by every later caller - the run, the benchmark, align compare."""
    cs = load_coco(coco_json, images_dir, category=category,
                   image_ids=None if image_ids is None else list(image_ids), skip_invalid=skip_invalid)
    path = _cache_path(cs, sidecar) if cache and not skip_invalid else None
    if path is not None and path.is_file():
        try:
            t = MetadataTable.load(path)
            t.dataset = dataset or cs.json_path.parent.name
            t.data["dataset"] = np.array([t.dataset] * len(t), dtype=object)
            return t
        except UserError:
            pass   # a damaged cache file is recomputed
    t = table_from_coco(cs, sidecar=sidecar, dataset=dataset, skip_invalid=skip_invalid, progress=progress)
    if path is not None:
        t.save(path)
    return t


def metadata_for_dir(dataset_dir: str | os.PathLike, category: str | int | None = None, dataset: str | None = None,
                     skip_invalid: bool = False, progress: bool = False) -> MetadataTable:
    """Metadata of a rendered dataset dir (design.md §2): DIR/coco_annotations.json, image file names relative
    to DIR (`images/NNNNNN.jpg`), DIR/sidecar.json when present."""
    d = Path(dataset_dir)
    js = d / "coco_annotations.json"
    if not js.is_file():
        raise UserError(f"{d}: not a dataset dir (no coco_annotations.json{'' if (d / 'DONE').exists() else ', no DONE'})")
    side = d / "sidecar.json"
    return compute_metadata(js, d, category=category, sidecar=side if side.is_file() else None,
                            dataset=dataset or d.name, skip_invalid=skip_invalid, progress=progress)
