"""`synthgap refine`: learn a sim-to-real refiner from renders and the exposed photos, and write refined copies of
dataset dirs: the same COCO, sidecar and boxes (byte for byte), new pixels.

    synthgap refine train --method learned --renders SET [SET ...] --real COCO --images DIR --split SPLIT --out R
    synthgap refine apply --refiner R --src SET --out REFINED_SET

Methods (REFINERS; one class + one register line each): `learned` (align/refine_net.py: a bounded residual
refiner on top of colour transfer, PatchGAN + DiffAugment, MMD to the photos' MobileNetV2 features, masked
content loss), `learned-task` (the same plus the detector's term, registered by benchmark/refine_task.py), `cut`
(align/refine_cut.py: CUT's ResNet generator with PatchNCE, unbounded; the option for a GPU, trained at 128 px
crops unless --crop), `fda` and `colour` (align/refine_pixels.py: Fourier domain adaptation, Reinhard colour
transfer; nothing to train but the photo bank or six statistics). `synthgap refine check` (benchmark/refine_check.py) is the label check.

Refiner dir R (DONE last; a rerun with the same inputs and settings resumes or keeps it; other inputs or
settings are refused unless --force): refiner.json (method, settings, the renders and the exposed photo ids it
was fitted on, the real COCO's content hash), bank.npz (the exposed photos at the renders' scale: fda), the
weights (learned: weights.pt, and ckpt.pt while it trains).

Only the split's *exposed* photos are opened (refine_pixels.photo_bank); a test photo never drives a refiner.

Apply. Every image of SRC is refined (the learned refiner on the whole image; FDA's photo drawn by (seed, image
id)) and written under OUT with SRC's file name and format (JPEG quality 95); images are written atomically and
skipped when present, so a killed apply resumes; the COCO and sidecar are copied unchanged (the sidecar's pixel
statistics, bg_similarity, describe the render), refine.json records
the refiner and the geometry check, DONE last. On the CPU the result is byte-deterministic for a refiner and seed.

Geometry check (boxes stay exact): per box of at least 8 px a side, the Sobel gradient magnitude of the grey
render smoothed at 1 px (its box + 3 px) is compared with the refined image's at every shift of up to 3 px: the
box passes when the best normalised cross-correlation within 1 px of no shift is at least 0.4 and within 0.02
of the best at 2-3 px (a tone change that clips a soft edge moves it by a pixel; a moved object does not come
back within 1 px). On the bottles' aligned renders colour transfer, FDA and the learned refiner keep 98-99 % of
the boxes, an object shifted by 4 px keeps 0 % and one scaled by 1.1x 9 % (studies/bottles/RESULTS.md). The refined set is
refused (exit 2, nothing marked DONE) when under 95 % of the boxes pass: an object that moved or changed scale
fails it.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.io import atomic_write_bytes, atomic_write_json, check_not_input, file_sha, input_paths, read_json
from core.progress import Progress, log
from core.registry import Registry

COCO_NAME = "coco_annotations.json"
REFINE_EVIDENCE = ("bottles, 150 renders, Faster R-CNN, seeds 0-2: aligned 0.305 mAP50-95, FDA 0.308, colour 0.301, "
                   "learned 0.302, learned-task (300 steps) 0.319, every paired interval against aligned holding 0; "
                   "studies/bottles/RESULTS.md, Refinement")
GEOMETRY_SHIFT, GEOMETRY_NCC, GEOMETRY_PASS, GEOMETRY_MIN_PX, GEOMETRY_SIGMA, GEOMETRY_TIE = 3, 0.4, 0.95, 8, 1.0, 0.02


# ----------------------------------------------------------------------------------------------- refiners
class Colour:
    description = "Reinhard colour transfer to the exposed photos' pooled l-alpha-beta statistics"

    def fit(self, ctx: dict) -> dict:
        from align.refine_pixels import colour_stats
        return {"colour_stats": colour_stats(ctx["photos"])}

    def applier(self, rec: dict, folder: Path, device: str):
        from align.refine_pixels import colour_transfer
        return lambda rgb, image_id: colour_transfer(rgb, rec["colour_stats"])


class Fda:
    description = "Fourier domain adaptation: the low-frequency amplitude of an exposed photo (beta 0.01)"

    def fit(self, ctx: dict) -> dict:
        import io
        buf = io.BytesIO()
        np.savez_compressed(buf, *ctx["photos"])
        atomic_write_bytes(ctx["out"] / "bank.npz", buf.getvalue())
        from align.refine_pixels import FDA_BETA
        return {"beta": FDA_BETA}

    def applier(self, rec: dict, folder: Path, device: str):
        from align.refine_pixels import fda, pick_photo
        with np.load(folder / "bank.npz") as z:
            bank = [z[f"arr_{i}"] for i in range(len(z.files))]
        seed = rec["seed"]
        return lambda rgb, image_id: fda(rgb, bank[pick_photo(len(bank), seed, image_id)], rec["beta"])


class Learned:
    learns = True                # fit reads every render (the others read one, for the renders' scale)
    description = ("a bounded residual refiner trained against a PatchGAN, an MMD on MobileNetV2 features and a "
                   "masked content loss (align/refine_net.py)")

    def train(self, renders: list[np.ndarray], ctx: dict, tick) -> dict:
        """-> the generator's state_dict, trained (or resumed) on the (base-transferred) renders."""
        from align.refine_net import train_refiner
        task = ctx["make_task"](renders) if ctx.get("make_task") else None
        return train_refiner(renders, ctx["masks"], ctx["photos"], ctx["settings"], ctx["out"] / "ckpt.pt",
                             ctx["device"], tick, task)

    def generator(self, settings):
        from align.refine_net import build_generator
        return build_generator(settings)

    def fit(self, ctx: dict) -> dict:
        from align.refine_net import torch_bytes
        from align.refine_pixels import colour_stats, colour_transfer
        s, out = ctx["settings"], ctx["out"]
        small = min(min(a.shape[:2]) for a in ctx["photos"] + ctx["renders"])
        if s.crop > small:
            raise UserError(f"--crop {s.crop} (synthgap run: --refine-crop): larger than the smallest render or photo "
                            f"side ({small} px)")
        rec = {"colour_stats": colour_stats(ctx["photos"])} if s.base == "colour" else {}
        renders = [colour_transfer(r, rec["colour_stats"]) for r in ctx["renders"]] if rec else ctx["renders"]
        with Progress(s.steps, "refiner") as bar:
            def tick(step, total, post):
                bar.n = step - 1
                bar.update(1, post)
            sd = self.train(renders, ctx, tick)
        atomic_write_bytes(out / "weights.pt", torch_bytes(sd))
        return {**rec, "weights_sha": file_sha(out / "weights.pt")}

    def applier(self, rec: dict, folder: Path, device: str):
        from align.refine_net import RefinerSettings, refine_image
        from core.checkpoint import load_weights
        net = self.generator(RefinerSettings(**rec["settings"]))
        net.load_state_dict(load_weights(folder / "weights.pt", "--refiner"))
        net.eval().to(device)
        if rec["settings"].get("base") == "colour":
            from align.refine_pixels import colour_transfer
            return lambda rgb, image_id: refine_image(net, colour_transfer(rgb, rec["colour_stats"]), device)
        return lambda rgb, image_id: refine_image(net, rgb, device)


class Cut(Learned):
    description = ("CUT, contrastive unpaired translation: a ResNet generator with PatchNCE, one-sided; unbounded, "
                   "the stronger option for a GPU (align/refine_cut.py)")
    crop = 128               # its training crop unless --crop: the generator works at a quarter of it

    def train(self, renders: list[np.ndarray], ctx: dict, tick) -> dict:
        from align.refine_cut import train_cut
        return train_cut(renders, ctx["photos"], ctx["settings"], ctx["out"] / "ckpt.pt", ctx["device"], tick)

    def generator(self, settings):
        from align.refine_cut import build_cut_generator
        return build_cut_generator(settings)


REFINERS: Registry[type] = Registry("refiner", "--method")
REFINERS.register("learned", Learned)
REFINERS.register("fda", Fda)
REFINERS.register("colour", Colour)
REFINERS.register("cut", Cut)


# ----------------------------------------------------------------------------------------------- inputs
def _device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible (use --device cpu or auto)")
    return name


def render_arrays(dirs: list[Path], limit: int | None = None, boxes: list | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(uint8 images, boolean object masks) of the dataset dirs' renders: the union of each image's instance
    masks (COCO RLE), else of its boxes when the set has no masks. `boxes`, when given, receives each image's
    (class name, [x, y, w, h]) boxes."""
    from align.refine_pixels import read_rgb
    from core.coco import load_coco
    from render.annotate import rle_decode
    imgs, masks = [], []
    for d in dirs:
        cs = load_coco(d / COCO_NAME, d)
        by_img = cs.annotations_by_image()
        for im in cs.images[:limit]:
            rgb = read_rgb(cs.image_path(im))
            m = np.zeros(rgb.shape[:2], bool)
            for a in by_img[int(im["id"])]:
                seg = a.get("segmentation")
                if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                    m |= rle_decode(seg)
                else:
                    x, y, w, h = (int(round(v)) for v in a["bbox"])
                    m[max(0, y):y + h, max(0, x):x + w] = True
            imgs.append(rgb)
            masks.append(m)
            if boxes is not None:
                boxes.append([(cs.categories[a["category_id"]], list(a["bbox"])) for a in by_img[int(im["id"])]])
    return imgs, masks


def photo_boxes(real, exposed: list[int], photos: list[np.ndarray]) -> list[list[tuple[str, list[float]]]]:
    """Per exposed photo of the bank: (class name, [x, y, w, h]) of its boxes at the bank's scale."""
    by_img, by_id = real.annotations_by_image(), {int(im["id"]): im for im in real.images}
    out = []
    for i, ph in zip(exposed, photos):
        s = ph.shape[1] / by_id[int(i)]["width"]
        out.append([(real.categories[a["category_id"]], [v * s for v in a["bbox"]]) for a in by_img[int(i)]])
    return out


def dataset_dir(p: str, option: str) -> Path:
    d = Path(p)
    if not (d / COCO_NAME).is_file():
        raise UserError(f"{d}: {option}: not a dataset dir ({COCO_NAME} missing)")
    return d


# ----------------------------------------------------------------------------------------------- train
def fit(method: str, renders: list[Path], real_json: Path, images: Path, split: Path, out: Path, settings,
        category: str | None = None, device: str = "auto", force: bool = False) -> Path:
    """Fit a refiner of `method` into folder `out` (module docstring) -> out."""
    from align.refine_pixels import photo_bank
    from core.coco import load_coco, load_split
    cls, dev = REFINERS.get(method), _device(device)
    real = load_coco(real_json, images, category=category)
    exposed = sorted(int(i) for i in load_split(split, real).exposed)
    want = {"method": method, "settings": settings.record(), "renders": [str(r.resolve()) for r in renders],
            "renders_sha": [file_sha(r / COCO_NAME) for r in renders], "real_sha": file_sha(real_json),
            "exposed_ids": exposed, "seed": settings.seed}
    if (out / "DONE").exists():
        have = read_json(out / "refiner.json", "refiner")
        if all(have.get(k) == v for k, v in want.items()):
            log(f"refiner {out}: complete, kept")
            return out
        if not force:
            raise UserError(f"{out}: a refiner fitted on other inputs or settings is there; --force replaces it")
    if force and (out / "DONE").exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    boxes: list = []
    learned = getattr(cls, "learns", False)
    rimgs, rmasks = render_arrays(renders, None if learned else 1, boxes)
    photos = photo_bank(real, exposed, max(rimgs[0].shape[:2]))
    log(f"refiner {method}: {len(rimgs)} renders, {len(photos)} exposed photos (test photos are never read)")
    rec = {**want, **cls().fit({"renders": rimgs, "masks": rmasks, "boxes": boxes, "photos": photos,
                                 "photo_boxes": photo_boxes(real, exposed, photos), "names": real.class_names(
                                     category), "settings": settings, "out": out, "device": dev})}
    atomic_write_json(out / "refiner.json", rec)
    (out / "DONE").write_text("ok\n")
    return out


# ----------------------------------------------------------------------------------------------- apply
def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _grad(rgb: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the grey image smoothed at GEOMETRY_SIGMA px (JPEG and sensor-like noise that a
    refiner amplifies in a dark render is not an edge)."""
    from scipy import ndimage
    g = ndimage.gaussian_filter(rgb.astype(np.float64).mean(2), GEOMETRY_SIGMA)
    return np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))


def box_geometry(gs: np.ndarray, gd: np.ndarray, box: list[float]) -> tuple[bool, float] | None:
    """(passes, best NCC within 1 px) of one box (module docstring), None for a box under GEOMETRY_MIN_PX;
    `gs`, `gd`: _grad of the render and of its refined image."""
    x, y, w, h = box
    if min(w, h) < GEOMETRY_MIN_PX:
        return None
    k = GEOMETRY_SHIFT
    H, W = gs.shape[:2]
    x0, y0, x1, y1 = int(max(k, x - k)), int(max(k, y - k)), int(min(W - k, x + w + k)), int(min(H - k, y + h + k))
    if x1 - x0 < GEOMETRY_MIN_PX or y1 - y0 < GEOMETRY_MIN_PX:
        return None
    ref = gs[y0:y1, x0:x1]
    scores = {(dy, dx): _ncc(ref, gd[y0 + dy:y1 + dy, x0 + dx:x1 + dx])
              for dy in range(-k, k + 1) for dx in range(-k, k + 1)}
    near = max(v for (dy, dx), v in scores.items() if max(abs(dy), abs(dx)) <= 1)
    far = max(v for (dy, dx), v in scores.items() if max(abs(dy), abs(dx)) >= 2)
    return near >= far - GEOMETRY_TIE and near >= GEOMETRY_NCC, near


def _refiner_sha(rec: dict) -> str:
    """What identifies a fitted refiner: its record less the label check (which is added after fitting)."""
    import hashlib
    import json
    body = json.dumps({k: v for k, v in rec.items() if k != "label_check"}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _write_image(path: Path, rgb: np.ndarray) -> None:
    import io

    from PIL import Image
    buf = io.BytesIO()
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    else:
        Image.fromarray(rgb).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def apply(refiner: Path, src: Path, out: Path, device: str = "auto", gates: bool = True) -> dict:
    """Write the refined copy of dataset dir `src` to `out` (module docstring) -> its refine.json record.
    A refiner that failed its label check (benchmark/refine_check.py), or a copy that fails the geometry check,
    is refused; with `gates` off (the label check's own copy) both are only recorded."""
    from align.refine_pixels import read_rgb
    from core.coco import load_coco
    if not (refiner / "DONE").exists():
        raise UserError(f"{refiner}: --refiner: not a finished refiner dir (no DONE; run `synthgap refine train`)")
    rec = read_json(refiner / "refiner.json", "refiner")
    lc = rec.get("label_check")
    if gates and lc and not lc["passed"]:
        raise UserError(f"{refiner}: --refiner: rejected by its label check: a detector trained on renders scores "
                        f"AP50 {lc['ap50_refined']:.3f} on refined held-out renders against {lc['ap50_renders']:.3f} "
                        f"unrefined (drop {lc['drop']:.3f} > {lc['max_drop']})")
    key = {"refiner": str(refiner.resolve()), "refiner_sha": _refiner_sha(rec),
           "src": str(src.resolve()), "src_sha": file_sha(src / COCO_NAME)}
    if (out / "DONE").exists():
        have = read_json(out / "refine.json", "refine record")
        if {k: have.get(k) for k in key} == key:
            return have
        raise UserError(f"{out}: a refined set of another refiner or source is there; choose another --out")
    dev = _device(device)
    fn = REFINERS.get(rec["method"])().applier(rec, refiner, dev)
    cs = load_coco(src / COCO_NAME, src)
    by_img = cs.annotations_by_image()
    passed, ncc = [], []
    with Progress(len(cs.images), f"refine {rec['method']}") as bar:
        for im in cs.images:
            rgb = read_rgb(cs.image_path(im))
            dst = out / im["file_name"]
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                _write_image(dst, fn(rgb, int(im["id"])))
            gs, gd = _grad(rgb), _grad(read_rgb(dst))   # the file as written: a resumed apply measures the same
            for a in by_img[int(im["id"])]:
                r = box_geometry(gs, gd, a["bbox"])
                if r is not None:
                    passed.append(r[0])
                    ncc.append(r[1])
            bar.update(1)
    share = float(np.mean(passed)) if passed else 1.0
    geometry = {"boxes": len(passed), "passed_share": share, "median_ncc": float(np.median(ncc)) if ncc else None,
                "rule": f"best gradient NCC within 1 px >= {GEOMETRY_NCC} and within {GEOMETRY_TIE} of the best "
                        f"at 2-{GEOMETRY_SHIFT} px; "
                        f"set passes at >= {GEOMETRY_PASS:.0%} of boxes >= {GEOMETRY_MIN_PX} px"}
    if gates and share < GEOMETRY_PASS:
        raise UserError(f"{out}: refined images moved their objects: {share:.1%} of {len(passed)} boxes keep their "
                        f"edges in place (need {GEOMETRY_PASS:.0%}); the refiner {refiner} is rejected")
    for name in (COCO_NAME, "sidecar.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    record = {**key, "method": rec["method"], "seed": rec["seed"], "geometry": geometry, "device": dev}
    atomic_write_json(out / "refine.json", record)
    (out / "DONE").write_text("ok\n")
    return record


# ----------------------------------------------------------------------------------------------- CLI
def _train_args(p: argparse.ArgumentParser) -> None:
    from align.refine_net import RefinerSettings
    d = RefinerSettings()
    p.add_argument("--method", default="fda", choices=REFINERS.names(), help="refiner (default: fda, the cheapest "
                   "with the highest mean of the untrained ones; no refiner separated from another: " + REFINE_EVIDENCE
                   + ")")
    p.add_argument("--renders", nargs="+", required=True, help="dataset dirs of renders the refiner learns from")
    p.add_argument("--real", required=True, help="real labels: a COCO json, a YOLO data.yaml (or folder) or a "
                   "Pascal VOC folder (core/real_source.py)")
    p.add_argument("--images", default=None, help="folder of the real images (default: the COCO json's folder; "
                   "YOLO/VOC labels name their own)")
    p.add_argument("--split", required=True, help="split.json: only its exposed photos are read")
    p.add_argument("--category", default=None, help="class of the real set (default: all)")
    p.add_argument("--out", required=True, help="refiner folder")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps (learned; default {d.steps})")
    p.add_argument("--crop", type=int, default=None, help=f"training crop, px (default {d.crop}; cut {Cut.crop})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"crops per step (default {d.batch})")
    p.add_argument("--channels", type=int, default=d.channels, help=f"learned / cut: the generator's width "
                   f"(default {d.channels}; CUT's paper: 64, for a GPU)")
    p.add_argument("--blocks", type=int, default=d.blocks, help=f"learned / cut: residual blocks (default {d.blocks}; "
                   "CUT's paper: 9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task-detector", default="", help="learned-task: the detector's start, a benchmark cell's "
                   "best.pt trained on the unrefined renders (default: the ImageNet start)")
    p.add_argument("--w-task", type=float, default=d.w_task, help=f"learned-task: weight of the detector's term "
                   f"(default {d.w_task})")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--force", action="store_true", help="replace a refiner fitted on other inputs or settings")


def settings_from(steps: int, crop: int | None, batch: int, seed: int, task_detector: str = "", w_task: float = 1.0,
                  method: str = "learned", channels: int | None = None, blocks: int | None = None):
    """RefinerSettings from the command line's values, checked; crop None: the method's own (`crop` of its class,
    else RefinerSettings')."""
    import math

    from align.refine_net import RefinerSettings
    if crop is None:
        crop = getattr(REFINERS.get(method), "crop", RefinerSettings.crop)
    channels = RefinerSettings.channels if channels is None else channels
    blocks = RefinerSettings.blocks if blocks is None else blocks
    for name, v, lo in (("--steps", steps, 1), ("--crop", crop, 16), ("--batch", batch, 2), ("--channels", channels, 1),
                        ("--blocks", blocks, 1)):
        if not v >= lo:
            raise UserError(f"{name} {v}: must be at least {lo}")
    if not (math.isfinite(w_task) and w_task >= 0):
        raise UserError(f"--w-task {w_task}: must be a finite number >= 0")
    if task_detector and not Path(task_detector).is_file():
        raise UserError(f"{task_detector}: --task-detector: file not found (a benchmark cell's best.pt)")
    return RefinerSettings(steps=steps, crop=crop, batch=batch, seed=seed, task_detector=str(task_detector),
                           w_task=float(w_task), channels=channels, blocks=blocks)


def build_parser() -> tuple[argparse.ArgumentParser, object]:
    """`synthgap refine`'s parser and its subparsers (synthgap/refine_cli.py adds `check` from the benchmark)."""
    ap = argparse.ArgumentParser(prog="synthgap refine", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    _train_args(sub.add_parser("train", help="fit a refiner from renders and the exposed photos"))
    pa = sub.add_parser("apply", help="write the refined copy of a dataset dir")
    pa.add_argument("--refiner", required=True, help="a refiner folder of `synthgap refine train`")
    pa.add_argument("--src", required=True, help="dataset dir to refine")
    pa.add_argument("--out", required=True, help="the refined dataset dir")
    pa.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return ap, sub


def run_args(a: argparse.Namespace) -> int:
    """`synthgap refine train|apply` with parsed arguments."""
    if a.cmd == "train":
        from core.real_source import resolve_args
        resolve_args(a)
    check_not_input(a.out, input_paths(vars(a)), deletes=getattr(a, "force", False))
    if a.cmd == "train":
        renders = [dataset_dir(r, "--renders") for r in a.renders]
        fit(a.method, renders, Path(a.real), Path(a.images), Path(a.split), Path(a.out),
            settings_from(a.steps, a.crop, a.batch, a.seed, a.task_detector, a.w_task, a.method, a.channels, a.blocks),
            a.category, a.device,
            a.force)
        print(f"refiner: {a.out}")
    else:
        rec = apply(Path(a.refiner), dataset_dir(a.src, "--src"), Path(a.out), a.device)
        g = rec["geometry"]
        print(f"refined set: {a.out} ({rec['method']}; geometry {g['passed_share']:.1%} of {g['boxes']} boxes in "
              "place)")
    return 0
