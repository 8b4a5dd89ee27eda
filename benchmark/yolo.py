"""YOLO (Ultralytics) training and prediction, fully offline.

`setup_ultralytics()` must run before anything imports ultralytics: it sets YOLO_OFFLINE / YOLO_AUTOINSTALL,
a project YOLO_CONFIG_DIR holding the font Ultralytics wants (matplotlib's DejaVuSans copied as Arial.ttf,
so nothing is downloaded) and the thread counts (Ultralytics would use one thread on a 2-core machine).
Models are built from a yaml (yolov8n.yaml by default), never from a downloaded .pt; a local checkpoint given
as start weights (`--yolo-weights PATH.pt`, e.g. a user's COCO yolov8n.pt, or a synthetic cell's best.pt in the
finetune regime) transfers every tensor whose name and shape match (Ultralytics' own transfer; the class head is
re-initialised when the class count differs), and the record says how many transferred. --yolo-precision auto (the
default, as for frcnn) trains with bf16 autocast where the CPU has AVX-512 BF16 / AMX or the GPU supports bf16 (also
on the CPU, `_cpu_bf16`: 1.55x the images/s of fp32 on this project's CPU at equal toy-set mAP, BENCHMARKS.md "CPU
training"), else fp32; fp32 | bf16 force one. --yolo-cache ram keeps the decoded images in memory. The record's
`training` says what was used.
Validation (best epoch, early stopping via patience) uses the val export given, i.e. the real *exposed* split;
with select_best off (the exposed images are training data) the schedule is fixed and the last epoch is kept.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.envs import PRECISION_HELP, check_precision, cpu_threads, repo_root, uses_bf16
from core.errors import UserError
from core.progress import Progress


def default_threads() -> int:
    return cpu_threads()


def setup_ultralytics(threads: int | None = None) -> None:
    """Offline, all-cores Ultralytics. Idempotent; safe to call before every use."""
    threads = threads or default_threads()
    cfg = Path(os.environ.get("YOLO_CONFIG_DIR") or repo_root() / ".synthgap" / "yolo")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cfg))
    cfg = Path(os.environ["YOLO_CONFIG_DIR"])
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    font_dir = cfg / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        src = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        for d in (font_dir, cfg):
            for name in ("Arial.ttf", "Arial.Unicode.ttf"):
                if src.exists() and not (d / name).exists():
                    shutil.copyfile(src, d / name)
    import torch
    import ultralytics.utils as uu
    import ultralytics.utils.torch_utils as ut
    uu.NUM_THREADS = threads
    ut.NUM_THREADS = threads
    torch.set_num_threads(threads)


def pick_device(device: str | None = None) -> str:
    if device:
        return device
    import torch
    return "0" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _cpu_bf16(on: bool):
    """While `on`: Ultralytics' trainer may autocast to bfloat16 on the CPU. Its `autocast` refuses bf16 off CUDA,
    though torch runs it natively on AVX-512 BF16 / AMX CPUs; validation stays fp32 (Ultralytics quantises only
    off the CPU). The trainer's module attribute is restored on exit."""
    if not on:
        yield
        return
    import torch
    import ultralytics.engine.trainer as trainer
    original = trainer.autocast

    def autocast(enabled, device: str = "cuda"):
        if device == "cpu" and enabled is torch.bfloat16:
            return torch.amp.autocast("cpu", dtype=torch.bfloat16)
        return original(enabled, device)
    trainer.autocast = autocast
    try:
        yield
    finally:
        trainer.autocast = original


@dataclass
class TrainResult:
    weights: Path
    best_epoch: int
    epochs_run: int
    train_s: float
    val_native: dict = field(default_factory=dict)   # Ultralytics' own val metrics at the best epoch
    epoch_s: list = field(default_factory=list)      # seconds per epoch (training + validation, results.csv)
    precision: str = "fp32"                          # as resolved: fp32 | bf16


def _read_results_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(f)]


def transferable(model_yaml: str, nc: int, weights: str | Path) -> tuple[int, int]:
    """(tensors of `weights` that load into the yaml model with `nc` classes, tensors of that model): name and
    shape match, as Ultralytics transfers them."""
    setup_ultralytics()
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint
    src, _ = load_checkpoint(str(weights))
    dst = DetectionModel(model_yaml, nc=nc, verbose=False).state_dict()
    csd = src.float().state_dict()
    return sum(1 for k, v in dst.items() if k in csd and csd[k].shape == v.shape), len(dst)


def train_yolo(data_yaml: Path, out_dir: Path, *, epochs: int, imgsz: int = 320, seed: int = 0,
               device: str | None = None, patience: int = 20, batch: int = 16, model_yaml: str = "yolov8n.yaml",
               workers: int | None = None, progress_desc: str = "yolo", start: str | Path | None = None,
               select_best: bool = True, precision: str = "fp32", cache: str = "off") -> TrainResult:
    """precision: the trainer's forward pass (bf16 autocast also on the CPU, `_cpu_bf16`); cache: off | ram."""
    setup_ultralytics()
    from ultralytics import YOLO
    device = pick_device(device)
    bf16 = uses_bf16(precision, "cpu" if device == "cpu" else "cuda")
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / "train", ignore_errors=True)  # an interrupted cell restarts from scratch
    model = YOLO(model_yaml)
    bar = Progress(epochs, f"{progress_desc} epochs")

    def on_epoch_end(trainer):
        fit = getattr(trainer, "fitness", None)
        done = min(trainer.epoch + 1, epochs) - bar.n
        if done > 0:
            bar.update(done, postfix=f"val mAP50-95 {fit:.3f}" if isinstance(fit, float) else "")

    model.add_callback("on_fit_epoch_end", on_epoch_end)
    t0 = time.monotonic()
    with bar, _cpu_bf16(bf16 and device == "cpu"):
        model.train(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, deterministic=True,
                    device=device, workers=(0 if workers is None else workers), project=str(out_dir), name="train",
                    exist_ok=True, amp="bf16" if bf16 else False, plots=False,
                    patience=patience if select_best else epochs + 1, verbose=False,
                    pretrained=str(start) if start else False, val=select_best,
                    cache="ram" if cache == "ram" else False)
    train_s = time.monotonic() - t0
    save_dir = Path(model.trainer.save_dir)
    weights = save_dir / "weights" / ("best.pt" if select_best else "last.pt")
    if not weights.exists():
        weights = save_dir / "weights" / "last.pt"
    if not weights.exists():
        raise RuntimeError(f"Ultralytics wrote no weights under {save_dir}")
    rows = _read_results_csv(save_dir / "results.csv")
    best_epoch, native = len(rows), {}
    if not select_best:
        rows_time = [float(r["time"]) for r in rows if r.get("time")]
        return TrainResult(weights, len(rows), len(rows), train_s, {},
                           [round(b - a, 3) for a, b in zip([0.0] + rows_time[:-1], rows_time)],
                           "bf16" if bf16 else "fp32")
    key = "metrics/mAP50-95(B)"
    if rows and key in rows[0]:
        vals = [float(r[key] or 0) for r in rows]
        i = max(range(len(vals)), key=lambda j: vals[j])
        best_epoch = int(float(rows[i].get("epoch", i + 1)))
        native = {"map50_95": vals[i], "map50": float(rows[i].get("metrics/mAP50(B)", "nan"))}
    cum = [float(r["time"]) for r in rows if r.get("time")]
    epoch_s = [round(b - a, 3) for a, b in zip([0.0] + cum[:-1], cum)]
    return TrainResult(weights, best_epoch, len(rows), train_s, native, epoch_s, "bf16" if bf16 else "fp32")


def predict_yolo(weights: Path, images: list[tuple[int, Path]], names: list[str], real_id_by_name: dict[str, int],
                 *, imgsz: int = 320, device: str | None = None, conf: float = 0.001, batch: int = 8) -> list[dict]:
    """COCO detections (real category ids) for `images` = [(image_id, path)]."""
    setup_ultralytics()
    from ultralytics import YOLO

    from benchmark.convert import to_coco_dets
    device = pick_device(device)
    model = YOLO(str(weights))
    model_names = [model.names[i] for i in sorted(model.names)]
    if model_names != list(names):
        raise UserError(f"{weights}: model classes {model_names} differ from the benchmark's {names}")
    dets: list[dict] = []
    for k in range(0, len(images), batch):
        chunk = images[k:k + batch]
        results = model.predict([str(p) for _, p in chunk], imgsz=imgsz, conf=conf, iou=0.6, max_det=100,
                                device=device, verbose=False)
        for (image_id, _), r in zip(chunk, results):
            b = r.boxes
            dets += to_coco_dets(image_id, b.xyxy.cpu().numpy(), b.conf.cpu().numpy(), b.cls.cpu().numpy(),
                                 names, real_id_by_name)
    return dets


def check_yolo_model(name: str) -> None:
    """--yolo-model: a local Ultralytics model yaml, or one Ultralytics ships (yolov8n.yaml: the yolov8 family at
    scale n); never a .pt (weights go to --yolo-weights) and never downloaded."""
    import re
    p = Path(name)
    if p.suffix not in (".yaml", ".yml"):
        raise UserError(f"--yolo-model {name}: must be a model yaml (start weights go to --yolo-weights)")
    if p.is_file():
        return
    spec = importlib.util.find_spec("ultralytics")
    root = Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models" if spec else None
    family = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", p.stem) + p.suffix
    if root is None or not (list(root.rglob(p.name)) or list(root.rglob(family))):
        raise UserError(f"--yolo-model {name}: neither a file nor a model yaml Ultralytics ships (e.g. yolov8n.yaml)")


CACHES = ("off", "ram")


@dataclass
class YoloParams:
    """yolo's own options (core/params.py): --yolo-model, --yolo-weights, --yolo-precision, --yolo-cache."""
    model: str = field(default="yolov8n.yaml", metadata={"help": "Ultralytics model yaml (never a .pt)"})
    weights: str | None = field(default=None, metadata={"help": "a local Ultralytics .pt to start YOLO from "
                                                                 "(matching layers transfer; never downloaded)"})
    precision: str = field(default="auto", metadata={"help": PRECISION_HELP})
    cache: str = field(default="off", metadata={"help": "off | ram: decoded, resized training images kept in "
                                                        "memory for the cell (Ultralytics' cache='ram')"})

    def check(self) -> None:
        from core.params import flag_name
        check_yolo_model(self.model)
        check_precision(self.precision, flag_name("yolo", "precision"))
        if self.cache not in CACHES:
            raise UserError(f"{flag_name('yolo', 'cache')} {self.cache}: expected one of {', '.join(CACHES)}")
        if self.weights is not None:
            from core.checkpoint import check_ultralytics
            check_ultralytics(self.weights, "--yolo-weights")


class YoloDetector:
    """The `yolo` detector (benchmark.detectors protocol): Ultralytics YOLO from a model yaml
    (settings.params.model, default yolov8n.yaml), trained from scratch on a YOLO export."""
    description = "Ultralytics YOLO from its yaml (yolov8n by default); from scratch or --yolo-weights PATH.pt"
    Params = YoloParams

    def __init__(self, settings):
        self.s = settings
        self.params = settings.params or YoloParams()
        self.model_yaml = self.params.model

    def _images(self, ctx, ids: list[int]) -> list[tuple[int, Path]]:
        keep = set(ids)
        return [(im["id"], ctx.real.image_path(im)) for im in ctx.real.images if im["id"] in keep]

    def _train_dir(self, train, ctx, val_dir: Path) -> Path:
        from benchmark import convert
        parts = train.parts()
        if len(parts) == 1 and parts[0][0] is ctx.real and sorted(parts[0][1] or []) == sorted(ctx.split.exposed):
            return val_dir
        dirs = [(convert.export_yolo(cs, ctx.out / "data" / (train.name if i == 0 else f"{train.name}.part{i}"),
                                     ctx.names, ids), k) for i, (cs, ids, k) in enumerate(parts)]
        return dirs[0][0] if len(dirs) == 1 and dirs[0][1] == 1 else convert.combine_exports(
            dirs, ctx.out / "data" / f"{train.name}.combined")

    def _start(self, train, nc: int) -> tuple[str | None, str]:
        """(weights to start from, the init name for the record)."""
        start = train.start or self.params.weights
        if not start:
            return None, "scratch"
        from core.checkpoint import check_ultralytics
        check_ultralytics(start, "--yolo-weights")
        n, total = transferable(self.model_yaml, nc, start)
        return str(start), f"weights:{Path(start).name} ({n}/{total} tensors transferred)"

    def train(self, train, ctx, seed: int, cell_dir: Path):
        from benchmark import convert
        from benchmark.detectors import Trained
        from benchmark.evaluate import score_faster
        val_dir = convert.export_yolo(ctx.real, ctx.out / "data" / "real-exposed", ctx.names, ctx.split.exposed)
        train_dir = self._train_dir(train, ctx, val_dir)
        data_yaml = convert.write_data_yaml(cell_dir / "data.yaml", train_dir, val_dir, ctx.names)
        start, init = self._start(train, len(ctx.names))
        s = self.s
        tr = train_yolo(data_yaml, cell_dir, epochs=train.epochs or s.epochs, imgsz=s.imgsz, seed=seed,
                        device=s.device, patience=s.patience, batch=min(s.batch * 2, 16), model_yaml=self.model_yaml,
                        progress_desc=f"{train.name} yolo seed{seed}", start=start, select_best=train.select_best,
                        precision=self.params.precision, cache=self.params.cache)
        trained = Trained(init=init, model=self.model_yaml, weights=str(tr.weights), train_s=tr.train_s,
                          best_epoch=tr.best_epoch, epochs_run=tr.epochs_run,
                          n_train_images=len(list((train_dir / "images").iterdir())), epoch_s=tr.epoch_s, val={},
                          training={"precision": tr.precision, "cache": self.params.cache})
        val = score_faster(ctx.val_gt, self.predict(trained, ctx, ctx.split.exposed))
        trained.val = {**val, "best_epoch": tr.best_epoch, "ultralytics": tr.val_native}
        return trained

    def predict(self, trained, ctx, image_ids: list[int]) -> list[dict]:
        return predict_yolo(Path(trained.weights), self._images(ctx, image_ids), ctx.names, ctx.real_ids,
                            imgsz=self.s.imgsz, device=self.s.device)


def versions() -> dict:
    setup_ultralytics()  # ultralytics reads its environment at import: never import it before the setup
    out = {"python": sys.version.split()[0]}
    for mod in ("torch", "torchvision", "ultralytics", "faster_coco_eval", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing package is recorded, not fatal
            out[mod] = None
    return out
