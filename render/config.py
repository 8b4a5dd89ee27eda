"""SceneConfig: one validated scene description, loaded from YAML (docs/design.md §1).

Pure Python (yaml only): imported by the main environment (CLI, align's selector) and by the render
environment (inside Blender). Every problem is a one-line `UserError` "FILE: key 'a.b': what is wrong".

    resolution: [320, 240]          # [w, h] pixels
    samples: 16                     # Cycles samples per pixel (adaptive sampling stops earlier); a range
                                    # [8, 32] draws one count per scene (sidecar `samples`)
    denoiser: fast                  # fast (Intel Open Image Denoise, the default) | none (path-tracing grain)
    objects_per_scene: [1, 3]       # annotated objects of `classes`
    classes: [bottle]               # class names from assets_manifest.yaml
    distractors: [0, 0]             # objects of other manifest classes, not annotated
    camera: {distance: [0.8, 2.0], elevation_deg: [10, 60], azimuth_deg: [0, 360],
             target_u: [0.5, 0.5], target_v: [0.5, 0.5], roll_deg: [0, 0]}
                                    # target_u/v: where in the frame (0..1, left/top = 0) the objects' centre
                                    # lands, solved by turning the camera; roll_deg: camera roll
    placement: surface              # surface (upright on z=0, yaw only) | floating (free pose)
    lights: {count: [1, 2], energy: [50, 300], color_temp_k: [3000, 7000]}
    background: {kind: color, ids: []}   # color: ids = "#rrggbb" choices (empty: random colour);
                                    # hdri / floor: manifest asset ids (empty: any of that kind);
                                    # photo: {kind: photo, dir: DIR} - a photo of DIR (e.g. `synthgap plates`)
                                    # behind the objects, composited by the render's alpha (render/postfx.py);
                                    # room: a textured floor (ids: floor_texture assets), four walls, and the
                                    # objects on a dining table of the manifest (render/scene.py `build_room`)
    effects: {exposure_ev: [0, 0], white_balance_k: [6500, 6500], noise_sigma: [0, 0], jpeg_quality: [95, 95],
              motion_px: [0, 0]}    # camera effects after the render, boxes untouched (render/postfx.py)
    clutter: {count: [0, 0], occlude: 0}   # unlabelled everyday objects (manifest kind clutter) around the
                                    # targets; occlude: chance per scene that one stands in a target's sight line
    materials: {hue_shift: [0, 0], saturation: [1, 1], value: [1, 1], roughness: [], transmission: [0, 0]}
                                    # per-object jitter of every material (render/scene.py `jitter_materials`);
                                    # roughness [] keeps the model's
    exclude_assets: []              # mesh ids never drawn for the classes (e.g. from `synthgap align shapes`)
    distractor_exclude: []          # manifest classes never drawn as distractors (a several-class run's other
                                    # classes, which would stand in its images unlabelled)
    blur_sigma_px: [0, 0]           # post-render Gaussian blur sigma, pixels (defocus)
    seed: 0

Missing keys take the defaults above (the denoiser's default was `none` before OIDN became the default; configs
stored with `denoiser: none` keep their names, a config file without the key now renders denoised under a new
name); ranges are [min, max] sampled uniformly (integers for counts).
Keys added after the first release (`effects`, `effects.motion_px`, `clutter`, `materials`, `exclude_assets`,
`distractor_exclude`,
`background.dir`,
`camera.target_u/target_v/roll_deg`) are written by to_mapping only when they differ
from their defaults, so a config that does not use them keeps its name. A photo `dir` is stored absolute (a
relative one is resolved against the working directory when first parsed) and must hold .jpg/.jpeg/.png files.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from core.io import load_yaml

DENOISERS = ("none", "fast")
PLACEMENTS = ("surface", "floating")
BACKGROUND_KINDS = ("color", "hdri", "floor", "photo", "room")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# keys added after the first release (module docstring), as paths into the mapping
LATER_KEYS = (("exclude_assets",), ("distractor_exclude",), ("materials",), ("clutter",), ("effects", "motion_px"), ("effects",), ("background", "dir"), ("camera", "target_u"), ("camera", "target_v"),
              ("camera", "roll_deg"))
SAMPLES_SEED_SALT = 0x5A3F
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

Range = tuple[float, float]
IntRange = tuple[int, int]


@dataclass(frozen=True)
class CameraConfig:
    distance: Range = (0.8, 2.0)
    elevation_deg: Range = (10.0, 60.0)
    azimuth_deg: Range = (0.0, 360.0)
    target_u: Range = (0.5, 0.5)            # framing: image x of the objects' centre, 0 = left edge
    target_v: Range = (0.5, 0.5)            # framing: image y of the objects' centre, 0 = top edge
    roll_deg: Range = (0.0, 0.0)            # camera roll about its optical axis

    @property
    def framed(self) -> bool:
        c = CameraConfig()
        return (self.target_u, self.target_v, self.roll_deg) != (c.target_u, c.target_v, c.roll_deg)


@dataclass(frozen=True)
class LightsConfig:
    count: IntRange = (1, 2)
    energy: Range = (50.0, 300.0)
    color_temp_k: Range = (3000.0, 7000.0)


@dataclass(frozen=True)
class BackgroundConfig:
    kind: str = "color"
    ids: tuple[str, ...] = ()
    dir: str = ""                           # kind photo: the folder of background photos (absolute)


@dataclass(frozen=True)
class EffectsConfig:
    exposure_ev: Range = (0.0, 0.0)         # exposure change, stops
    white_balance_k: Range = (6500.0, 6500.0)   # white balance of the camera; 6500 = none
    noise_sigma: Range = (0.0, 0.0)         # Gaussian sensor noise, sd in 8-bit levels
    jpeg_quality: IntRange = (95, 95)       # JPEG quality the image is saved at
    motion_px: Range = (0.0, 0.0)           # motion blur: length of a straight streak in px, at a random angle


@dataclass(frozen=True)
class MaterialsConfig:
    hue_shift: Range = (0.0, 0.0)           # added to every base colour's hue (0..1, wraps), per object
    saturation: Range = (1.0, 1.0)          # base colour saturation factor, per object
    value: Range = (1.0, 1.0)               # base colour value (brightness) factor, per object
    roughness: tuple = ()                   # [min, max]: Principled roughness per object; () keeps the model's
    transmission: Range = (0.0, 0.0)        # Principled transmission weight per object (glass, clear plastic)


@dataclass(frozen=True)
class ClutterConfig:
    count: IntRange = (0, 0)                # unlabelled manifest `clutter` objects per scene
    occlude: float = 0.0                    # chance per scene that one of them stands in a target's line of sight


@dataclass(frozen=True)
class SceneConfig:
    resolution: tuple[int, int] = (320, 240)
    samples: int | IntRange = 16            # per pixel; a range [lo, hi] draws one count per scene
    denoiser: str = "fast"
    objects_per_scene: IntRange = (1, 3)
    classes: tuple[str, ...] = ("bottle",)
    distractors: IntRange = (0, 0)
    camera: CameraConfig = field(default_factory=CameraConfig)
    placement: str = "surface"
    lights: LightsConfig = field(default_factory=LightsConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    blur_sigma_px: Range = (0.0, 0.0)
    seed: int = 0
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    clutter: ClutterConfig = field(default_factory=ClutterConfig)
    materials: MaterialsConfig = field(default_factory=MaterialsConfig)
    exclude_assets: tuple[str, ...] = ()    # mesh ids never drawn (e.g. the shapes `align shapes` dropped)
    distractor_exclude: tuple[str, ...] = ()   # classes never drawn as distractors

    # ---- (de)serialisation ------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, d: Any, source: str = "<config>", manifest_classes: list[str] | None = None) -> "SceneConfig":
        """Validate a mapping (e.g. parsed YAML). `manifest_classes`, when given, checks `classes`."""
        return _parse(d, str(source), manifest_classes)

    @classmethod
    def from_yaml(cls, path: str | Path, manifest_classes: list[str] | None = None) -> "SceneConfig":
        data = load_yaml(path)
        if is_grid(data):
            raise UserError(f"{path}: has {{grid: [...]}} values: expand it with render.grid.expand_grid "
                            "(or render each expanded config through a plan)")
        return cls.from_mapping(data, str(path), manifest_classes)

    def to_mapping(self) -> dict[str, Any]:
        """Plain JSON/YAML-able mapping (lists, not tuples); from_mapping(to_mapping()) == self."""
        d, default = _plain(asdict(self)), _plain(asdict(SceneConfig()))
        for *parents, key in LATER_KEYS:          # written only when set: older configs keep their names
            at, ref = d, default
            for k in parents:
                at, ref = at[k], ref[k]
            if key in at and at[key] == ref[key]:
                del at[key], ref[key]             # from the default too: a parent compares pruned mappings
        return d

    def canonical_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))

    def samples_for(self, seed: int) -> int:
        """The scene's samples per pixel: the count, or one drawn from the range by a generator of its own
        (seeded by the scene seed), so every other draw of the scene stays as it was."""
        if isinstance(self.samples, int):
            return self.samples
        import numpy as np
        rng = np.random.default_rng([int(seed) % (2 ** 63), SAMPLES_SEED_SALT])
        return int(rng.integers(self.samples[0], self.samples[1] + 1))

    @property
    def name(self) -> str:
        """Stable id: 'cfg-' + first 10 hex digits of sha256(canonical JSON)."""
        return "cfg-" + hashlib.sha256(self.canonical_json().encode()).hexdigest()[:10]


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def is_grid(d: Any) -> bool:
    if isinstance(d, dict):
        if set(d) == {"grid"}:
            return True
        return any(is_grid(v) for v in d.values())
    return False


# ---- validation ----------------------------------------------------------------------------------
class _V:
    def __init__(self, source: str):
        self.source = source

    def err(self, key: str, msg: str) -> UserError:
        return UserError(f"{self.source}: key {key!r}: {msg}")

    def mapping(self, d: Any, key: str, allowed: tuple[str, ...]) -> dict:
        if d is None:
            return {}
        if not isinstance(d, dict):
            raise self.err(key or "<top>", f"must be a mapping, got {type(d).__name__}")
        unknown = sorted(str(k) for k in d if k not in allowed)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.err(where, f"unknown key (allowed: {', '.join(allowed)})")
        return d

    def number(self, v: Any, key: str, integer: bool = False, min_value: float | None = None) -> float | int:
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok:
            raise self.err(key, f"must be {'an integer' if integer else 'a number'}, got {v!r}")
        if v != v or v in (float("inf"), float("-inf")):
            raise self.err(key, f"must be finite, got {v!r}")
        if min_value is not None and v < min_value:
            raise self.err(key, f"must be >= {min_value}, got {v!r}")
        return int(v) if integer else float(v)

    def range_(self, v: Any, key: str, integer: bool = False, min_value: float | None = None,
               max_value: float | None = None) -> tuple:
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise self.err(key, f"must be a range [min, max], got {v!r}")
        lo = self.number(v[0], key, integer, min_value)
        hi = self.number(v[1], key, integer, min_value)
        if max_value is not None and hi > max_value:
            raise self.err(key, f"must be <= {max_value}, got {v!r}")
        if lo > hi:
            raise self.err(key, f"empty range: min {lo} > max {hi}")
        return (lo, hi)

    def choice(self, v: Any, key: str, options: tuple[str, ...]) -> str:
        if v not in options:
            raise self.err(key, f"must be one of {', '.join(options)}, got {v!r}")
        return v

    def str_list(self, v: Any, key: str, non_empty: bool) -> tuple[str, ...]:
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) and x for x in v):
            raise self.err(key, f"must be a list of names, got {v!r}")
        if non_empty and not v:
            raise self.err(key, "must not be empty")
        if len(set(v)) != len(v):
            raise self.err(key, f"has duplicates: {list(v)!r}")
        return tuple(v)


_TOP = ("resolution", "samples", "denoiser", "objects_per_scene", "classes", "distractors", "camera",
        "placement", "lights", "background", "blur_sigma_px", "seed", "effects", "clutter", "materials",
        "exclude_assets", "distractor_exclude")


def _parse(d: Any, source: str, manifest_classes: list[str] | None) -> SceneConfig:
    v = _V(source)
    if d is None:
        d = {}
    d = v.mapping(d, "", _TOP)
    if is_grid(d):
        raise UserError(f"{source}: has {{grid: [...]}} values: expand it with render.grid.expand_grid first")
    base = SceneConfig()
    kw: dict[str, Any] = _image(v, d)
    if "objects_per_scene" in d:
        kw["objects_per_scene"] = v.range_(d["objects_per_scene"], "objects_per_scene", True, 1, 50)
    if "classes" in d:
        kw["classes"] = v.str_list(d["classes"], "classes", True)
    if manifest_classes is not None:
        for c in kw.get("classes", base.classes):
            if c not in manifest_classes:
                raise v.err("classes", f"unknown class {c!r} (manifest classes: {', '.join(manifest_classes)})")
    if "distractors" in d:
        kw["distractors"] = v.range_(d["distractors"], "distractors", True, 0, 50)
    if "camera" in d:
        kw["camera"] = _camera(v, d["camera"])
    if "placement" in d:
        kw["placement"] = v.choice(d["placement"], "placement", PLACEMENTS)
    if "lights" in d:
        kw["lights"] = _lights(v, d["lights"])
    if "background" in d:
        kw["background"] = _background(v, d["background"])
    if "effects" in d:
        kw["effects"] = _effects(v, d["effects"])
    if "materials" in d:
        kw["materials"] = _materials(v, d["materials"])
    for key in ("exclude_assets", "distractor_exclude"):
        if key in d:
            kw[key] = v.str_list(d[key], key, False)
    if "clutter" in d:
        kw["clutter"] = _clutter(v, d["clutter"])
    if "blur_sigma_px" in d:
        kw["blur_sigma_px"] = v.range_(d["blur_sigma_px"], "blur_sigma_px", False, 0.0, 50.0)
    if "seed" in d:
        kw["seed"] = v.number(d["seed"], "seed", True, 0)
    cfg = SceneConfig(**kw)
    if cfg.background.kind == "room" and cfg.placement != "surface":
        raise v.err("background.kind", "room stands the objects on a table: it needs placement surface, "
                    f"not {cfg.placement}")
    return cfg


def _image(v: _V, d: dict) -> dict[str, Any]:
    """The image keys: resolution, samples, denoiser."""
    kw: dict[str, Any] = {}
    if "resolution" in d:
        r = d["resolution"]
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise v.err("resolution", f"must be [width, height], got {r!r}")
        kw["resolution"] = (v.number(r[0], "resolution", True, 8), v.number(r[1], "resolution", True, 8))
    if "samples" in d:
        if isinstance(d["samples"], (list, tuple)):
            lo, hi = v.range_(d["samples"], "samples", True, 1, 4096)
            kw["samples"] = lo if lo == hi else (lo, hi)
        else:
            kw["samples"] = v.number(d["samples"], "samples", True, 1)
    if "denoiser" in d:
        kw["denoiser"] = v.choice(d["denoiser"], "denoiser", DENOISERS)
    return kw


_CAMERA_RANGES = {"target_u": (0.0, 1.0), "target_v": (0.0, 1.0), "roll_deg": (-180.0, 180.0),
                  "distance": (0.05, None), "elevation_deg": (-89.0, 89.0), "azimuth_deg": (-720.0, 720.0)}


def _camera(v: _V, d: Any) -> CameraConfig:
    c = v.mapping(d, "camera", ("distance", "elevation_deg", "azimuth_deg", "target_u", "target_v", "roll_deg"))
    ck: dict[str, Any] = {}
    for k, (lo, hi) in _CAMERA_RANGES.items():
        if k in c:
            ck[k] = v.range_(c[k], f"camera.{k}", False, lo, hi)
    return CameraConfig(**ck)


def _lights(v: _V, d: Any) -> LightsConfig:
    lt = v.mapping(d, "lights", ("count", "energy", "color_temp_k"))
    lk: dict[str, Any] = {}
    if "count" in lt:
        lk["count"] = v.range_(lt["count"], "lights.count", True, 0, 16)
    if "energy" in lt:
        lk["energy"] = v.range_(lt["energy"], "lights.energy", False, 0.0)
    if "color_temp_k" in lt:
        lk["color_temp_k"] = v.range_(lt["color_temp_k"], "lights.color_temp_k", False, 1000.0, 40000.0)
    return LightsConfig(**lk)


def _background(v: _V, d: Any) -> BackgroundConfig:
    b = v.mapping(d, "background", ("kind", "ids", "dir"))
    kind = v.choice(b.get("kind", "color"), "background.kind", BACKGROUND_KINDS)
    ids = v.str_list(b.get("ids", []) or [], "background.ids", False)
    if kind == "color":
        for x in ids:
            if not _HEX.match(x):
                raise v.err("background.ids", f"colour background ids must be '#rrggbb', got {x!r}")
    if (kind == "photo") != ("dir" in b):
        raise v.err("background.dir", "is required with kind photo (a folder of photos, e.g. from "
                    "`synthgap plates`)" if kind == "photo" else f"only goes with kind photo, not {kind}")
    if kind != "photo":
        return BackgroundConfig(kind=kind, ids=ids)
    if ids:
        raise v.err("background.ids", "kind photo takes its photos from dir, not ids")
    if not isinstance(b["dir"], str) or not b["dir"]:
        raise v.err("background.dir", f"must be a folder path, got {b['dir']!r}")
    folder = Path(b["dir"]).expanduser().resolve()
    if not folder.is_dir():
        raise v.err("background.dir", f"{folder} is not a folder")
    if not photo_files(folder):
        raise v.err("background.dir", f"{folder} holds no {'/'.join(PHOTO_SUFFIXES)} files")
    return BackgroundConfig(kind=kind, dir=str(folder))


def photo_files(folder: str | Path) -> list[Path]:
    """The background photos of a folder, sorted by name (the order scenes draw from): the plates that its
    plates.json lists and that are still there (a plate deleted by hand is left out; `synthgap plates`' contact
    sheet never counts), else every .jpg/.jpeg/.png in it."""
    folder = Path(folder)
    index = folder / "plates.json"
    if index.is_file():
        try:
            listed = {p["file"] for p in json.loads(index.read_text())["plates"]}
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{index}: not a plates index ({e}); delete it to use every image of the folder") from None
        return sorted(folder / f for f in listed if (folder / f).is_file())
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())


def _materials(v: _V, d: Any) -> MaterialsConfig:
    m = v.mapping(d, "materials", ("hue_shift", "saturation", "value", "roughness", "transmission"))
    k: dict[str, Any] = {}
    for key, lo, hi in (("hue_shift", -0.5, 0.5), ("saturation", 0.0, 4.0), ("value", 0.0, 4.0),
                        ("roughness", 0.0, 1.0), ("transmission", 0.0, 1.0)):
        if key in m:
            k[key] = v.range_(m[key], f"materials.{key}", False, lo, hi)
    return MaterialsConfig(**k)


def _clutter(v: _V, d: Any) -> ClutterConfig:
    c = v.mapping(d, "clutter", ("count", "occlude"))
    k: dict[str, Any] = {}
    if "count" in c:
        k["count"] = v.range_(c["count"], "clutter.count", True, 0, 64)
    if "occlude" in c:
        k["occlude"] = v.number(c["occlude"], "clutter.occlude", False, 0.0)
        if k["occlude"] > 1.0:
            raise v.err("clutter.occlude", f"is a chance, must be <= 1, got {c['occlude']!r}")
    return ClutterConfig(**k)


def _effects(v: _V, d: Any) -> EffectsConfig:
    e = v.mapping(d, "effects", ("exposure_ev", "white_balance_k", "noise_sigma", "jpeg_quality", "motion_px"))
    k: dict[str, Any] = {}
    if "exposure_ev" in e:
        k["exposure_ev"] = v.range_(e["exposure_ev"], "effects.exposure_ev", False, -4.0, 4.0)
    if "white_balance_k" in e:
        k["white_balance_k"] = v.range_(e["white_balance_k"], "effects.white_balance_k", False, 2000.0, 15000.0)
    if "noise_sigma" in e:
        k["noise_sigma"] = v.range_(e["noise_sigma"], "effects.noise_sigma", False, 0.0, 64.0)
    if "jpeg_quality" in e:
        k["jpeg_quality"] = v.range_(e["jpeg_quality"], "effects.jpeg_quality", True, 5, 100)
    if "motion_px" in e:
        k["motion_px"] = v.range_(e["motion_px"], "effects.motion_px", False, 0.0, 64.0)
    return EffectsConfig(**k)


def hex_to_rgb(h: str) -> tuple[float, float, float]:
    return (int(h[1:3], 16) / 255.0, int(h[3:5], 16) / 255.0, int(h[5:7], 16) / 255.0)
