"""The detector extension point: a small protocol, typed records, and the registry.

A detector is a class registered in `DETECTORS` under a name (the `--detectors` choice). The benchmark makes
one instance per run (`cls(settings)`, scikit-learn style: parameters in the constructor), then per cell:

    trained = det.train(train_set, ctx, seed, cell_dir)   -> Trained (typed; weights on disk)
    dets    = det.predict(trained, ctx, image_ids)         -> COCO detections on real images (real category ids)

`train_set` is a `TrainSet` (the images to learn from: a CocoSet and, for the real baseline, the exposed
ids); `ctx` is the `CellContext` every cell shares (the real set, split, classes, validation ground truth).
Validation (best epoch, early stopping) may use only the real *exposed* images (`ctx.split.exposed`).
Adding a detector = one file with its class + one `DETECTORS.register(...)` line (here for built-ins, or
from the user's own code). A detector with options of its own declares them as a `Params` dataclass on its class
(core/params.py): each field is the flag `--<detector>-<field>` of every command that trains (and a `--config`
key), recorded in the benchmark's run.json settings (`detector_params`: {detector: {field: value set}}), and the
detector receives the checked instance as `settings.params`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.coco import CocoSet, Split
from core.registry import Registry


@dataclass
class TrainSettings:
    epochs: int = 30
    imgsz: int = 320
    device: str | None = None
    patience: int = 20
    batch: int = 8
    init: str = "auto"               # start weights (each detector documents its choices)
    params: Any = None               # the detector's own Params instance (core/params.py), None when it has none


@dataclass
class TrainSet:
    """What one cell trains on, and how (built by a regime, benchmark/regimes.py)."""
    name: str                        # the cell's data name (variant, "real", or "<variant>+real")
    coco: CocoSet
    image_ids: list[int] | None      # None: every image of `coco`
    extra: list[tuple[CocoSet, list[int], int]] = field(default_factory=list)   # (set, ids, repeats): more images
    start: str | None = None         # weights to start from instead of settings.init (a checkpoint of this detector)
    select_best: bool = True         # best epoch on the exposed images; False: fixed schedule, last epoch
    epochs: int | None = None        # None: settings.epochs

    def parts(self) -> list[tuple[CocoSet, list[int] | None, int]]:
        """Every (set, ids, repeats) to train on; repeated parts are oversampled."""
        return [(self.coco, self.image_ids, 1), *self.extra]


@dataclass
class CellContext:
    real: CocoSet
    split: Split
    names: list[str]                 # the detector's classes (real category names, id order)
    real_ids: dict[str, int]         # class name -> real category id
    val_gt: dict                     # COCO dict of the exposed images (validation ground truth)
    out: Path                        # the benchmark run dir (exports may be cached under out/data)


@dataclass
class Trained:
    """What `train` returns; everything but `model` goes into the results record."""
    init: str                        # start weights: scratch | imagenet-mobilenetv2 | ...
    model: str                       # architecture name
    weights: str                     # path of the best weights
    train_s: float
    best_epoch: int
    epochs_run: int
    n_train_images: int
    epoch_s: list[float]
    val: dict                        # val metrics at the best epoch (COCO keys + best_epoch)
    handle: Any = None               # in-memory model (not recorded)
    skipped_steps: int = 0           # optimizer steps skipped for a non-finite loss or gradient
    training: dict = field(default_factory=dict)   # how it trained, as resolved (e.g. frcnn's precision)

    def record(self) -> dict:
        return {"init": self.init, "model": self.model, "train_s": round(self.train_s, 2),
                "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "n_train_images": self.n_train_images, "epoch_s": self.epoch_s, "val": self.val,
                "weights": self.weights, "skipped_steps": self.skipped_steps,
                **({"training": self.training} if self.training else {})}


class Detector(Protocol):
    description: str

    def __init__(self, settings: TrainSettings) -> None: ...

    def train(self, train: TrainSet, ctx: CellContext, seed: int, cell_dir: Path) -> Trained: ...

    def predict(self, trained: Trained, ctx: CellContext, image_ids: list[int]) -> list[dict]: ...


DETECTORS: Registry[type] = Registry("detector", "--detectors")
DETECTORS.register("yolo", "benchmark.yolo:YoloDetector")
DETECTORS.register("frcnn", "benchmark.frcnn:FrcnnDetector")


def default_detectors(detector_params: dict | None = None) -> list[str]:
    """--detectors when not given (every command): Faster R-CNN, which starts from ImageNet offline (COCO weights
    when cached) and learns from a few photos on a CPU budget; YOLO from scratch does not (bottles: 0.015
    mAP50-95 at best), so it is the default only when --yolo-weights gives it a start."""
    return ["yolo"] if (detector_params or {}).get("yolo", {}).get("weights") else ["frcnn"]


def add_detector_args(ap) -> None:
    """Every registered detector's own flags (`--<detector>-<field>`), one help group per detector."""
    from core.params import add_registry_args
    add_registry_args(ap, DETECTORS)


def detector_args(args) -> dict[str, dict]:
    """The detectors' options given on the command line: {detector: {field: value}} (only those set)."""
    from core.params import registry_args
    return registry_args(args, DETECTORS)


def check_detector_params(values: dict[str, dict], detectors: list[str]) -> dict[str, Any]:
    """Each trained detector's Params and every one given options, built and checked -> {detector: instance}."""
    from core.params import check_registry
    return check_registry(DETECTORS, values, detectors)
