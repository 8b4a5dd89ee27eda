"""Cut-paste compositing (seed 000's data side): objects of a rendered set pasted onto plates of the exposed photos.

Sprites: every *whole* object of rendered sets, cut to its mask's box (RGB + mask): an annotation with an exact
instance mask (COCO RLE) whose box is at least MIN_SPRITE_PX on its longer side, that does not touch the frame
(a close-up truncates the object there) and whose mask, grown by TOUCH_PX, meets no other labelled object's (one
in front would have cut it). Pasted anywhere, a cut-off or half-hidden object is a fragment labelled as a whole
one. An object hidden in part by an unlabelled distractor cannot be told from the masks and stays in. Close-up
sets hold few whole objects (the bottles run's aligned set: 14 of 136), so `synthgap run` cuts from the aligned
set and the run's probe renders of every grid config (synthgap/composite_sets.py): the placement comes from the
photos' boxes, not from the config a sprite was rendered with. Plates: the box-free crops of the exposed photos
(render/plates.py, `synthgap plates`); never a test photo.

One pasted object has four placement numbers in [0, 1] (`Bounds.to_pixels` maps them): its size s (the square
root of its box's share of the image, between the 5th and 95th percentiles of the exposed photos' boxes), its box
centre (cx, cy, between the same percentiles of the exposed boxes' centres) and a rotation within +-max_deg.
`paste` warps the sprite with torch's `affine_grid`/`grid_sample` (differentiable in the placement, so a
synthesizer can learn it: benchmark/composite_task.py), feathers its alpha by a Gaussian of `blend_px` and
blends it over the plate; later objects cover earlier ones, an object's box and mask are what stays visible, and
an object less than MIN_VISIBLE visible is dropped (not drawn). The objects per image are drawn from the exposed photos'
per-image counts; each object's class uniformly among the sprites' classes, then a sprite of that class.

`bg_cutouts` (seed 000's blending artefacts): after the objects, up to CUTOUTS pieces shaped like a random
sprite's mask but filled with another plate's pixels are pasted, with the same blend, where they touch no
labelled box, so the blend's edges are no cue for the detector.

`random-composite` (cut-paste-learn, Dwibedi et al. 2017) draws the placement numbers uniformly; `write_set`
writes either kind as a dataset dir (images/*.png, COCO with RLE masks, info.composite, DONE last) built in a
temporary folder and moved into place, so an interrupted build leaves nothing.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.api import UserError, atomic_write_json, atomic_write_text, load_coco, load_split

COCO_NAME = "coco_annotations.json"
MIN_SPRITE_PX = 24      # a sprite's mask box must be at least this long on its longer side
TOUCH_PX = 2            # a sprite's mask grown by this many px must meet no other labelled object's
MIN_VISIBLE = 0.3       # an object less visible than this (covered by later ones) is dropped
CUTOUTS = 3             # bg_cutouts: pieces tried per image
MAX_DEG = 10.0          # default rotation bound (degrees)


@dataclass
class Sprite:
    rgb: np.ndarray        # (h, w, 3) uint8
    mask: np.ndarray       # (h, w) bool
    name: str              # class name


@dataclass
class Bounds:
    """The placement ranges, from the exposed photos' boxes (module docstring)."""
    size: tuple[float, float]
    cx: tuple[float, float]
    cy: tuple[float, float]
    counts: list[int]              # objects per exposed photo
    max_deg: float = MAX_DEG

    def to_pixels(self, u, width: int, height: int, aspect: float):
        """(cx, cy, w, h, angle rad) in pixels for placement numbers u (torch, last dim 4, in [0, 1]) of a sprite
        whose box has width / height `aspect`."""
        def lerp(t, lo_hi):
            return lo_hi[0] + t * (lo_hi[1] - lo_hi[0])
        s = lerp(u[..., 0], self.size)
        h = s * math.sqrt(width * height / aspect)
        return (lerp(u[..., 1], self.cx) * width, lerp(u[..., 2], self.cy) * height, h * aspect, h,
                (2 * u[..., 3] - 1) * math.radians(self.max_deg))

    def record(self) -> dict:
        return {"size": list(self.size), "cx": list(self.cx), "cy": list(self.cy), "max_deg": self.max_deg,
                "counts": self.counts}

    @classmethod
    def from_record(cls, r: dict) -> "Bounds":
        """The bounds a set's `info.composite.bounds` (record()) holds."""
        return cls(tuple(r["size"]), tuple(r["cx"]), tuple(r["cy"]), r["counts"], r["max_deg"])


def _masks(anns: list[dict]) -> list[np.ndarray | None]:
    from render.annotate import rle_decode
    return [rle_decode(a["segmentation"]) if isinstance(a.get("segmentation"), dict) and isinstance(
        a["segmentation"].get("counts"), list) else None for a in anns]


def whole(masks: list, k: int) -> bool:
    """Whether object k of one image is whole (module docstring): big enough, off the frame, touching no other
    labelled object."""
    from scipy.ndimage import binary_dilation
    m = masks[k]
    if m is None or not m.any() or m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any():
        return False
    ys, xs = np.nonzero(m)
    if max(np.ptp(ys), np.ptp(xs)) + 1 < MIN_SPRITE_PX:
        return False
    grown = binary_dilation(m, iterations=TOUCH_PX)
    return not any(o is not None and (grown & o).any() for j, o in enumerate(masks) if j != k)


def cut_sprites(set_dirs, limit: int | None = None) -> list[Sprite]:
    """The whole objects of the rendered sets `set_dirs` (one dir or a list; module docstring) as sprites, in dir,
    image then annotation order."""
    from align.refine_pixels import read_rgb
    dirs, out = [set_dirs] if isinstance(set_dirs, (str, Path)) else list(set_dirs), []
    for d in dirs:
        cs = load_coco(Path(d) / COCO_NAME, d)
        by_img = cs.annotations_by_image()
        for im in cs.images[:limit]:
            anns = by_img[int(im["id"])]
            masks = _masks(anns)
            keep = [k for k in range(len(anns)) if whole(masks, k)]
            rgb = read_rgb(cs.image_path(im)) if keep else None
            for k in keep:
                ys, xs = np.nonzero(masks[k])
                y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                out.append(Sprite(rgb[y0:y1, x0:x1].copy(), masks[k][y0:y1, x0:x1].copy(),
                                  cs.categories[anns[k]["category_id"]]))
    if not out:
        raise UserError(f"{Path(dirs[0]) / COCO_NAME}: no whole object (an instance mask, segmentation RLE, of at "
                        f"least {MIN_SPRITE_PX} px, off the frame, touching no other object) in "
                        f"{len(dirs)} rendered set(s): compositing needs rendered sets with whole objects")
    return out


def bounds_from_photos(real_json: Path, images: Path, split: Path, category: str | None = None,
                       max_deg: float = MAX_DEG) -> Bounds:
    """The placement ranges of the exposed photos' boxes (never a test photo's)."""
    cs = load_coco(real_json, images, image_ids=load_split(split, real_json).exposed, category=category)
    by_img, s, cx, cy, counts = cs.annotations_by_image(), [], [], [], []
    for im in cs.images:
        W, H = float(im["width"]), float(im["height"])
        anns = by_img[int(im["id"])]
        counts.append(len(anns))
        for a in anns:
            x, y, w, h = a["bbox"]
            s.append(math.sqrt(max(w * h, 1.0) / (W * H)))
            cx.append((x + w / 2) / W)
            cy.append((y + h / 2) / H)
    if not s:
        raise UserError(f"{split}: the exposed photos hold no box: nothing to place objects by")

    def q(v):
        return float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))
    return Bounds(q(s), q(cx), q(cy), [max(1, c) for c in counts], max_deg)


def load_plates(plates_dir: Path) -> list[np.ndarray]:
    """The plates plates.json lists and that are still there (render/plates.py), as uint8 RGB."""
    from align.refine_pixels import read_rgb
    rec = json.loads((Path(plates_dir) / "plates.json").read_text())
    files = [Path(plates_dir) / p["file"] for p in rec["plates"] if (Path(plates_dir) / p["file"]).exists()]
    if not files:
        raise UserError(f"{plates_dir}: no plate left (plates.json lists none that exists)")
    return [read_rgb(f) for f in files]


def to_tensor(rgb: np.ndarray):
    import torch
    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1) / 255.0)


def _theta(cx, cy, w, h, a, W: int, H: int):
    """affine_grid's theta (1, 2, 3): output (plate) normalised coords -> the sprite's, for a sprite of w x h px
    centred at (cx, cy) px and turned by a."""
    import torch
    c, s = torch.cos(a), torch.sin(a)
    rot = torch.stack([torch.stack([c, s]), torch.stack([-s, c])])              # R(-a)
    d = torch.stack([2 / w, 2 / h])
    lin = d[:, None] * rot * torch.tensor([W / 2, H / 2], dtype=rot.dtype)[None, :]
    t = d * (rot @ (torch.tensor([W / 2, H / 2], dtype=rot.dtype) - torch.stack([cx, cy])))
    return torch.cat([lin, t[:, None]], dim=1)[None]


def _blur(alpha, sigma: float):
    import torch
    import torch.nn.functional as F
    if sigma <= 0:
        return alpha
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=alpha.dtype) ** 2) / (2 * sigma * sigma))
    k = k / k.sum()
    a = F.conv2d(alpha, k.view(1, 1, 1, -1), padding=(0, r))
    return F.conv2d(a, k.view(1, 1, -1, 1), padding=(r, 0))


def warp(rgb_t, mask: np.ndarray, place: tuple, W: int, H: int, blend_px: float):
    """(warped rgb (3, H, W), feathered alpha (1, H, W)) of a sprite (rgb_t (3, h, w) tensor) at `place`."""
    import torch
    import torch.nn.functional as F
    m = torch.from_numpy(mask.astype(np.float32))[None]
    src = torch.cat([rgb_t * m, m], 0)[None]                 # premultiplied: no pixel outside the mask leaks in
    grid = F.affine_grid(_theta(*place, W, H), (1, 4, H, W), align_corners=False)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    rgb = out[:3] / out[3:4].clamp(min=1e-3)
    return rgb.clamp(0, 1), _blur(out[3:4][None], blend_px)[0]


def paste(plate_t, sprites: list[Sprite], u, bounds: Bounds, blend_px: float = 1.0):
    """The composite (3, H, W) of `sprites` over plate_t at placement numbers u (k, 4) and their visible masks
    [(H, W) bool], in order (module docstring); differentiable in u and plate_t."""
    import torch
    _, H, W = plate_t.shape
    warped = [warp(to_tensor(sp.rgb), sp.mask, bounds.to_pixels(uk, W, H, sp.mask.shape[1] / sp.mask.shape[0]),
                   W, H, blend_px) for sp, uk in zip(sprites, u)]
    full = [alpha[0].detach() > 0.5 for _, alpha in warped]
    visible, cover = [None] * len(full), torch.zeros((H, W), dtype=torch.bool)
    for k in range(len(full) - 1, -1, -1):          # from the top: only drawn objects cover
        m = full[k]
        v = m & ~cover
        if int(m.sum()) and int(v.sum()) >= MIN_VISIBLE * int(m.sum()):
            visible[k], cover = v.numpy(), cover | m
    img = plate_t
    for (rgb, alpha), v in zip(warped, visible):
        if v is not None:               # a dropped object is not drawn: no unlabelled object pixels
            img = alpha * rgb + (1 - alpha) * img
    return img, visible


def bg_cutouts(img, other_plate_t, sprites: list[Sprite], boxes: list[list[float]], bounds: Bounds, rng,
               blend_px: float = 1.0, tries: int = CUTOUTS):
    """img with up to `tries` pieces of other_plate_t shaped like random sprites' masks pasted, with the same
    blend, where they touch no box of `boxes` (module docstring)."""
    import torch
    _, H, W = img.shape
    for _ in range(tries):
        sp = sprites[int(rng.integers(len(sprites)))]
        h, w = sp.mask.shape
        u = torch.tensor(rng.uniform(0, 1, 4), dtype=torch.float32)
        _, _, pw, ph, a = bounds.to_pixels(u, W, H, w / h)
        cx, cy = float(rng.uniform(0, W)), float(rng.uniform(0, H))
        r = 0.5 * math.hypot(float(pw), float(ph))
        if h > other_plate_t.shape[1] or w > other_plate_t.shape[2] or any(
                cx + r > x and cx - r < x + bw and cy + r > y and cy - r < y + bh for x, y, bw, bh in boxes):
            continue
        y0 = int(rng.integers(other_plate_t.shape[1] - h + 1))
        x0 = int(rng.integers(other_plate_t.shape[2] - w + 1))
        rgb, alpha = warp(other_plate_t[:, y0:y0 + h, x0:x0 + w], sp.mask,
                          (torch.tensor(cx), torch.tensor(cy), pw, ph, a), W, H, blend_px)
        img = alpha * rgb + (1 - alpha) * img
    return img


def draw_objects(bounds: Bounds, sprites: list[Sprite], rng) -> list[Sprite]:
    """The objects of one image: a count from the exposed photos', each of a uniformly drawn class."""
    names = sorted({s.name for s in sprites})
    n = int(bounds.counts[int(rng.integers(len(bounds.counts)))])
    picks = []
    for _ in range(n):
        name = names[int(rng.integers(len(names)))]
        pool = [s for s in sprites if s.name == name]
        picks.append(pool[int(rng.integers(len(pool)))])
    return picks


def annotations(masks: list, objects: list[Sprite]) -> list[tuple[str, list[float], np.ndarray]]:
    """(class name, [x, y, w, h], mask) of every object still visible."""
    from render.annotate import mask_bbox
    return [(sp.name, mask_bbox(m), m) for sp, m in zip(objects, masks) if m is not None]


def random_image(plates: list, sprites: list[Sprite], bounds: Bounds, rng, cutouts: bool, blend_px: float = 1.0):
    """One random composite: (uint8 image, annotations) with uniform placement numbers."""
    import torch
    objects = draw_objects(bounds, sprites, rng)
    p = int(rng.integers(len(plates)))
    u = torch.tensor(rng.uniform(0, 1, (len(objects), 4)), dtype=torch.float32)
    with torch.no_grad():
        img, masks = paste(plates[p], objects, u, bounds, blend_px)
        anns = annotations(masks, objects)
        if cutouts:
            other = plates[int(rng.integers(len(plates)))]
            img = bg_cutouts(img, other, sprites, [b for _, b, _ in anns], bounds, rng, blend_px)
    return to_uint8(img), anns


def to_uint8(img) -> np.ndarray:
    return (img.detach().clamp(0, 1).numpy().transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)


def write_set(out: Path, images: list[tuple[np.ndarray, list]], categories: list[dict], info: dict) -> Path:
    """The dataset dir `out` of composites (module docstring; `categories`: the sprites' set's COCO categories),
    built beside it and moved into place."""
    from PIL import Image

    from render.annotate import rle_encode
    out, ids = Path(out), {c["name"]: int(c["id"]) for c in categories}
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    ims, anns = [], []
    for i, (rgb, objs) in enumerate(images, start=1):
        name = f"images/{i:06d}.png"
        Image.fromarray(rgb).save(tmp / name)
        ims.append({"id": i, "file_name": name, "width": int(rgb.shape[1]), "height": int(rgb.shape[0])})
        for cls, (x, y, w, h), m in objs:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": ids[cls],
                         "bbox": [float(x), float(y), float(w), float(h)], "area": float(m.sum()),
                         "iscrowd": 0, "segmentation": rle_encode(m)})
    atomic_write_json(tmp / COCO_NAME, {"info": info, "images": ims, "annotations": anns,
                                        "categories": categories}, indent=None)
    atomic_write_text(tmp / "DONE", "composite\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def sources(set_dirs) -> list[Path]:
    """The sprite sources as resolved paths (one dir or a list; the first one's categories are the set's)."""
    return [Path(d).resolve() for d in ([set_dirs] if isinstance(set_dirs, (str, Path)) else set_dirs)]


def source_categories(set_dir: Path) -> list[dict]:
    from core.api import read_json
    return list(read_json(Path(set_dir) / COCO_NAME, "COCO")["categories"])


def random_composite(set_dir: Path, plates_dir: Path, bounds: Bounds, total: int, out: Path, seed: int = 0,
                     cutouts: bool = False, blend_px: float = 1.0) -> Path:
    """`random-composite`: `total` composites of set_dir's sprites on the plates, uniform placement in `bounds`
    (module docstring), written as the dataset dir `out`; kept when it is complete for the same inputs."""
    import torch
    src = sources(set_dir)
    info = {"composite": {"method": "random", "source": [str(p) for p in src], "plates": str(Path(plates_dir).resolve()),
                          "total": int(total), "seed": int(seed), "bg_cutouts": bool(cutouts), "blend_px": blend_px,
                          "bounds": bounds.record()}}
    if complete(out, info):
        return out
    torch.manual_seed(seed)
    sprites, plates = cut_sprites(src), [to_tensor(p) for p in load_plates(plates_dir)]
    rng = np.random.default_rng([seed, 25])
    images = [random_image(plates, sprites, bounds, rng, cutouts, blend_px) for _ in range(int(total))]
    return write_set(out, images, source_categories(src[0]), info)


def complete(out: Path, info: dict) -> bool:
    """Whether `out` is a finished composite set of the same recipe (then it is kept)."""
    from core.api import read_json
    if not (Path(out) / "DONE").exists():
        return False
    have = read_json(Path(out) / COCO_NAME, "COCO").get("info", {}).get("composite") or {}
    return all(have.get(k) == v for k, v in info["composite"].items())
