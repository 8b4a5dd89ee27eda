"""`synthgap plates`: background plates for `background: {kind: photo, dir: DIR}` from the real *exposed* photos.

A plate is a crop of an exposed photo that holds no labelled object: every annotation box of every category,
grown by `--margin` (a fraction of the box's longer side, default 0.1), is forbidden ground. In each photo the
largest free rectangle of the plates' aspect (`--size W H`, the render resolution) is cropped, then the next
largest that overlaps no earlier plate, up to `--per-image` plates; a rectangle whose shorter side is below
`--min-frac` of the photo's shorter side is not taken. Plates are resized to W x H and written as
`<image stem>-<k>.jpg`, with plates.json listing each plate's source file, crop box and the rule (a photo
background draws only the plates plates.json lists and that are still there: render.config.photo_files). Only the
split's exposed images are read; a test image is never opened. Objects nobody labelled can still be in a plate:
look at the contact sheet (contact_sheet.jpg) and delete any plate that holds a target-like object.

Why crops, not inpainting: pasting renders onto inpainted photos lowered mAP on a real set (0.167 -> 0.096),
the inpainted regions still reading as objects; a crop holds only pixels no label touched.

Inputs are sacred: `--out` may not be, or hold, the COCO, the images or the split, and `--force` replaces only a
plates folder this command wrote (one holding plates.json). Sides above MAX_PLATE_PX are refused.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from core.coco import load_coco, load_split
from core.errors import UserError
from core.io import atomic_write_json, check_out_dir

MAX_PLATE_PX = 8192   # a plate side larger than this is refused (a 2**13 px render is already huge)
GRID = 8   # px per occupancy cell when searching free rectangles


def forbidden_mask(w: int, h: int, boxes: list[list[float]], margin: float) -> np.ndarray:
    """bool (h, w): True where a box grown by margin * its longer side lies."""
    m = np.zeros((h, w), bool)
    for x, y, bw, bh in boxes:
        g = margin * max(bw, bh)
        x0, y0 = max(0, int(np.floor(x - g))), max(0, int(np.floor(y - g)))
        x1, y1 = min(w, int(np.ceil(x + bw + g))), min(h, int(np.ceil(y + bh + g)))
        m[y0:y1, x0:x1] = True
    return m


def largest_free_rect(blocked: np.ndarray, aspect: float, min_h: int) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) in cells of the largest rectangle with w/h ~= aspect and no blocked cell, or None when the
    largest has h < min_h. Sizes are tried from the largest down; the first fit (top-most, then left-most) wins."""
    H, W = blocked.shape
    ii = np.zeros((H + 1, W + 1), np.int64)
    ii[1:, 1:] = blocked.astype(np.int64).cumsum(0).cumsum(1)
    for h in range(H, max(min_h, 1) - 1, -1):
        w = max(1, int(round(h * aspect)))
        if w > W:
            continue
        s = ii[h:, w:] - ii[:-h, w:] - ii[h:, :-w] + ii[:-h, :-w]
        ys, xs = np.nonzero(s == 0)
        if ys.size:
            return int(xs[0]), int(ys[0]), w, h
    return None


def plate_boxes(w: int, h: int, boxes: list[list[float]], size: tuple[int, int], margin: float,
                per_image: int, min_frac: float) -> list[tuple[int, int, int, int]]:
    """Crop boxes (x, y, w, h) in pixels for one photo of w x h with these annotation boxes."""
    blocked_px = forbidden_mask(w, h, boxes, margin)
    gh, gw = -(-h // GRID), -(-w // GRID)
    pad = np.ones((gh * GRID, gw * GRID), bool)
    pad[:h, :w] = blocked_px
    blocked = pad.reshape(gh, GRID, gw, GRID).any(axis=(1, 3))   # a cell touching any forbidden pixel is blocked
    aspect = size[0] / size[1]
    min_h = int(np.ceil(min_frac * min(w, h) / GRID / (1 if aspect <= 1 else 1 / aspect)))
    out = []
    for _ in range(per_image):
        r = largest_free_rect(blocked, aspect, min_h)
        if r is None:
            break
        cx, cy, cw, ch = r
        blocked[cy:cy + ch, cx:cx + cw] = True
        out.append((cx * GRID, cy * GRID, min(cw * GRID, w - cx * GRID), min(ch * GRID, h - cy * GRID)))
    return out


def make_plates(coco_json: str, images: str, split_path: str, out: str, size: tuple[int, int],
                margin: float = 0.1, per_image: int = 2, min_frac: float = 0.25, force: bool = False) -> dict:
    """Write the plates of the exposed images into `out` (see the module docstring): built in a temporary
    folder beside it and moved into place at the end, so an error leaves nothing. -> plates.json's content."""
    import shutil

    from core.io import check_not_input
    outp = check_not_input(check_out_dir(out), [("COCO", Path(coco_json)), ("--images", Path(images)),
                                                 ("--split", Path(split_path))], deletes=True)
    split = load_split(split_path, coco_json)
    cs = load_coco(coco_json, images, image_ids=split.exposed)
    if outp.exists() and any(outp.iterdir()):
        if not force:
            raise UserError(f"{outp}: --out exists and is not empty (use --force to replace it)")
        if not (outp / "plates.json").is_file():
            raise UserError(f"{outp}: --force replaces only a plates folder this command wrote (it holds "
                            "plates.json); this one does not: choose another --out")
    tmp = outp.parent / f".{outp.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        plates = _write_plates(cs, tmp, size, margin, per_image, min_frac)
        if not plates:
            raise UserError(f"{split_path}: no exposed photo has a free region of {min_frac:g} of its shorter "
                            "side (lower --min-frac or --margin)")
        record = {"plates": plates, "rule": {"size": list(size), "margin": margin, "per_image": per_image,
                                             "min_frac": min_frac, "source": str(Path(coco_json).resolve()),
                                             "split": "exposed", "n_exposed": len(split.exposed)}}
        contact_sheet([tmp / p["file"] for p in plates], tmp / "contact_sheet.jpg")
        atomic_write_json(tmp / "plates.json", record)
        shutil.rmtree(outp, ignore_errors=True)
        tmp.rename(outp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def _write_plates(cs, out: Path, size, margin, per_image, min_frac) -> list[dict]:
    from PIL import Image

    from core.io import atomic_write_bytes
    boxes = {int(im["id"]): [] for im in cs.images}
    for a in cs.annotations:                   # every category: no labelled object may reach a plate
        boxes[int(a["image_id"])].append(a["bbox"])
    plates = []
    for im in cs.images:
        with Image.open(cs.image_path(im)) as src:
            photo = src.convert("RGB")
        for k, (x, y, w, h) in enumerate(plate_boxes(photo.width, photo.height, boxes[int(im["id"])], size,
                                                      margin, per_image, min_frac)):
            name = f"{Path(im['file_name']).stem}-{k}.jpg"
            crop = photo.crop((x, y, x + w, y + h)).resize(size, Image.LANCZOS)
            atomic_write_bytes(out / name, _jpeg(crop))
            plates.append({"file": name, "source": im["file_name"], "crop_xywh": [x, y, w, h]})
    return plates


def _jpeg(img, quality: int = 95) -> bytes:
    import io
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def sheet_png(paths: list[Path], cols: int = 8, tile: int = 120, fmt: str = "PNG") -> bytes:
    """A grid of thumbnails (tile px on the longer side) of `paths`, as image bytes."""
    import io

    from PIL import Image
    thumbs = []
    for p in paths:
        with Image.open(p) as im:
            t = im.convert("RGB")
            t.thumbnail((tile, tile))
            thumbs.append(t)
    rows = -(-len(thumbs) // cols)
    sheet = Image.new("RGB", (cols * tile, max(1, rows) * tile), (255, 255, 255))
    for i, t in enumerate(thumbs):
        sheet.paste(t, ((i % cols) * tile, (i // cols) * tile))
    buf = io.BytesIO()
    sheet.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def sheet_paths(set_cs, real_cs, exposed: list[int], n: int = 12) -> tuple[list[Path], list[Path]]:
    """What a realism contact sheet shows: n images of a set (evenly spaced) and the first n exposed photos."""
    step = max(1, len(set_cs.images) // n)
    by_id = {int(im["id"]): im for im in real_cs.images}
    return ([set_cs.image_path(im) for im in set_cs.images[::step][:n]],
            [real_cs.image_path(by_id[i]) for i in exposed[:n]])


def contact_sheet(paths: list[Path], out: Path, cols: int = 8, tile: int = 120) -> None:
    """sheet_png of `paths` written as one JPEG."""
    from core.io import atomic_write_bytes
    atomic_write_bytes(out, sheet_png(paths, cols, tile, "JPEG"))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="synthgap plates", description=__doc__.split("\n")[0])
    p.add_argument("coco", help="real COCO json (or its dataset dir)")
    p.add_argument("--images", required=True, help="folder of the real images")
    p.add_argument("--split", required=True, help="split.json: only its exposed images are used")
    p.add_argument("--size", type=int, nargs=2, default=[320, 240], metavar=("W", "H"),
                   help="plate size, the render resolution (default: %(default)s)")
    p.add_argument("--margin", type=float, default=0.1, help="box growth, fraction of its longer side")
    p.add_argument("--per-image", type=int, default=2, help="most plates per photo (default: %(default)s)")
    p.add_argument("--min-frac", type=float, default=0.25, help="smallest plate, fraction of the photo's shorter "
                   "side (default: %(default)s)")
    p.add_argument("--out", required=True, help="plates folder (must not exist, or --force)")
    p.add_argument("--force", action="store_true", help="replace --out")
    a = p.parse_args(argv)
    if not (8 <= min(a.size) and max(a.size) <= MAX_PLATE_PX):
        raise UserError(f"--size: each side must be 8 to {MAX_PLATE_PX} px, got {a.size[0]} x {a.size[1]}")
    if not (math.isfinite(a.margin) and a.margin >= 0 and a.per_image >= 1 and 0 < a.min_frac <= 1):
        raise UserError(f"--margin must be a finite number >= 0 (got {a.margin:g}), --per-image >= 1 (got "
                        f"{a.per_image}), 0 < --min-frac <= 1 (got {a.min_frac:g})")
    rec = make_plates(a.coco, a.images, a.split, a.out, tuple(a.size), a.margin, a.per_image, a.min_frac,
                      force=a.force)
    print(f"wrote {len(rec['plates'])} plates from {rec['rule']['n_exposed']} exposed photos to {a.out} "
          f"(contact sheet: {Path(a.out) / 'contact_sheet.jpg'})")
    return 0
