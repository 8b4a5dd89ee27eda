"""Benchmark-harness figures for BENCHMARKS.md.

  speed     seconds per epoch per 100 training images at --imgsz (default 320) for yolov8n and the
            Faster R-CNN with each start of --inits (default imagenet,scratch), on generated 640x480 images
            (compute depends on the input size and the image count, not on the content). Epoch 1 (warm-up,
            caches) is excluded.
  cpu-train Faster R-CNN training throughput (images/s of a training pass) of the CPU variants side by side in
            one process, interleaved epoch by epoch so a busy machine slows all alike: today's (torchvision's
            RoIAlign, fp32), the sparse RoIAlign (benchmark/roi_pool.py), and with it the --frcnn-* options:
            bf16 (torch.autocast bfloat16 forward: AVX-512 BF16 / AMX CPUs), channels-last, more frozen blocks.
            Round 1 (warm-up) is excluded; the median of the other rounds and the ratio to fp32 are printed.
  yolo-train yolov8n training throughput (images/s of an epoch, validation on 10 images included) per option set
            of --yolo-precision / --yolo-cache, each run twice (the order reversed the second time); epoch 1 of
            each run excluded.
  yolo-map  yolov8n's toy-set val mAP50-95 per --yolo-precision, --seeds seeds (does bf16 keep accuracy?).
  baseline  the real-trained baseline: `synthgap benchmark run` with no variants on the real set
            (train + best epoch on the 30 exposed images, scored on the 59 test images); prints its mAP.

usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py speed [--n 100] [--epochs 3]
       PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py cpu-train [--n 150] [--rounds 4]
       PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py yolo-train [--n 150] [--epochs 3]
       PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py yolo-map [--epochs 20] [--seeds 2]
       PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py baseline [--epochs 60] [--detectors yolo]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def speed(args) -> None:
    from benchmark import convert
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    tmp = Path(tempfile.mkdtemp(prefix="bench_speed_", dir=REPO / ".synthgap"))
    train = load_coco(make_toy_set(tmp / "train", args.n, size=(640, 480), seed=1, max_objects=3))
    val = load_coco(make_toy_set(tmp / "val", 10, size=(640, 480), seed=2))
    names = train.class_names()
    ids = val.name_to_id()
    print(f"cpu cores: {os.cpu_count()}  images: {args.n} train / 10 val at {args.imgsz} px  epochs: {args.epochs}")
    if "yolo" in args.detectors:
        from benchmark import yolo
        tr_dir = convert.export_yolo(train, tmp / "y_train", names)
        va_dir = convert.export_yolo(val, tmp / "y_val", names)
        data = convert.write_data_yaml(tmp / "data.yaml", tr_dir, va_dir, names)
        r = yolo.train_yolo(data, tmp / "yolo", epochs=args.epochs, imgsz=args.imgsz, batch=16, seed=0,
                            patience=100)
        per = statistics.mean(r.epoch_s[1:] or r.epoch_s) * 100 / args.n
        print(f"yolov8n: epoch seconds {r.epoch_s} (incl. val on 10 images) -> {per:.1f} s/epoch/100 images")
    if "frcnn" in args.detectors:
        from benchmark import frcnn
        tr = frcnn.samples_for(train, None, names, args.imgsz)
        va = frcnn.samples_for(val, None, names, args.imgsz)
        for init in args.inits.split(","):
            t0 = time.monotonic()
            r = frcnn.train_frcnn(tr, va, val.subset(None, names), names, ids, epochs=args.epochs,
                                  imgsz=args.imgsz, batch=4, patience=100, init=init)
            per = statistics.mean(r.epoch_train_s[1:] or r.epoch_train_s) * 100 / args.n
            print(f"frcnn ({r.init}): train-pass epoch seconds {r.epoch_train_s} (total with val "
                  f"{time.monotonic() - t0:.1f} s) -> {per:.1f} s/epoch/100 images")


_BEFORE = {"precision": "fp32", "memory_format": "nchw", "freeze": 7}   # the options before issue 26
VARIANTS = {  # name: (torchvision's own RoIAlign, FrcnnParams fields)
    "today": (True, _BEFORE), "sparse-roi": (False, _BEFORE),
    "sparse-roi+bf16": (False, {**_BEFORE, "precision": "bf16"}),
    "sparse-roi+bf16+cl": (False, {**_BEFORE, "precision": "bf16", "memory_format": "channels-last"}),
    "sparse-roi+bf16+cl+freeze-11": (False, {"precision": "bf16", "memory_format": "channels-last", "freeze": 11}),
    "sparse-roi+bf16+cl+freeze-14": (False, {"precision": "bf16", "memory_format": "channels-last", "freeze": 14})}


def cpu_train(args) -> None:
    import torch
    from torchvision.ops import MultiScaleRoIAlign

    from benchmark import frcnn
    from benchmark.frcnn_init import build_model
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    tmp = Path(tempfile.mkdtemp(prefix="bench_cpu_", dir=REPO / ".synthgap"))
    train = load_coco(make_toy_set(tmp / "train", args.n, size=(640, 480), seed=1, max_objects=3))
    names = train.class_names()
    samples = frcnn.samples_for(train, None, names, args.imgsz)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu capability "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.n} images at {args.imgsz} px, batch 4")
    runs, dev = {}, torch.device("cpu")
    chosen = args.variants.split(",") if args.variants else list(VARIANTS)
    for name in chosen:
        tv_roi, fields = VARIANTS[name]
        torch.manual_seed(0)
        model, _, _ = build_model(names, args.imgsz, "imagenet")
        if tv_roi:   # before benchmark/roi_pool.py
            pool = model.roi_heads.box_roi_pool
            model.roi_heads.box_roi_pool = MultiScaleRoIAlign(pool.featmap_names, pool.output_size,
                                                              pool.sampling_ratio)
        training = frcnn.prepare_model(model, frcnn.FrcnnParams(**fields), dev)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
        runs[name] = {"model": model, "opt": opt, "params": params, "amp": training["precision"] == "bf16",
                      "step": 0, "s": [], "gen": torch.Generator().manual_seed(0)}
    for r in range(args.rounds):
        for name, v in runs.items():
            t0 = time.monotonic()
            loss, v["step"], _ = frcnn._train_epoch(v["model"], v["opt"], v["params"], samples, 4, v["gen"], dev,
                                                    lambda s: 0.01, v["step"], r + 1, amp=v["amp"])
            v["s"].append(time.monotonic() - t0)
            print(f"round {r + 1} {name}: {v['s'][-1]:.1f} s (loss {loss:.3f})", flush=True)
    base = None
    for name, v in runs.items():
        ips = args.n / statistics.median(v["s"][1:] or v["s"])
        base = base or ips
        print(f"{name}: {ips:.2f} images/s ({ips / base:.2f}x {chosen[0]}); epoch seconds "
              f"{[round(s, 1) for s in v['s']]}")


YOLO_VARIANTS = {"fp32": {}, "cache-ram": {"cache": "ram"}, "bf16": {"precision": "bf16"},
                 "bf16+cache-ram": {"precision": "bf16", "cache": "ram"}}


def _toy_yolo_data(prefix: str, n: int, n_val: int, val_max_objects: int | None = None) -> tuple[Path, Path]:
    """A fresh folder with generated 640x480 toy sets (n training images of up to 3 objects, n_val validation
    images) exported for YOLO -> (the folder, its data.yaml)."""
    from benchmark import convert
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=REPO / ".synthgap"))
    train = load_coco(make_toy_set(tmp / "train", n, size=(640, 480), seed=1, max_objects=3))
    extra = {} if val_max_objects is None else {"max_objects": val_max_objects}
    val = load_coco(make_toy_set(tmp / "val", n_val, size=(640, 480), seed=2, **extra))
    names = train.class_names()
    return tmp, convert.write_data_yaml(tmp / "data.yaml", convert.export_yolo(train, tmp / "y_train", names),
                                        convert.export_yolo(val, tmp / "y_val", names), names)


def yolo_train(args) -> None:
    """yolov8n epochs (training pass + validation on 10 images) per YOLO_VARIANTS entry, the variants in turn and
    the order repeated backwards, so that a drift of the machine's speed is shared."""
    from benchmark import yolo
    tmp, data = _toy_yolo_data("bench_yolo_", args.n, 10)
    chosen = args.variants.split(",") if args.variants else list(YOLO_VARIANTS)
    print(f"yolov8n, {args.n} images at {args.imgsz} px, batch 16, {args.epochs} epochs per run, cpu cores "
          f"{os.cpu_count()}")
    seconds: dict[str, list[float]] = {n: [] for n in chosen}
    for name in chosen + chosen[::-1]:
        r = yolo.train_yolo(data, tmp / name, epochs=args.epochs, imgsz=args.imgsz, batch=16, seed=0, patience=100,
                            **YOLO_VARIANTS[name])
        seconds[name] += r.epoch_s[1:]
        print(f"{name} ({r.precision}): epoch seconds {r.epoch_s}", flush=True)
    base = None
    for name in chosen:
        ips = args.n / statistics.median(seconds[name])
        base = base or ips
        print(f"{name}: {ips:.2f} images/s ({ips / base:.2f}x {chosen[0]}), epochs after the first: "
              f"{[round(s, 1) for s in seconds[name]]}")


def yolo_map(args) -> None:
    """Does bf16 keep yolov8n's accuracy? From scratch it learns nothing from 30-150 real photos in CPU budgets,
    so this trains on the generated toy shapes (150 images) and scores Ultralytics' val mAP50-95 on 30 held-out
    toy images, per variant and seed."""
    from benchmark import yolo
    tmp, data = _toy_yolo_data("bench_yolo_map_", args.n, 30, val_max_objects=3)
    for name in args.variants.split(","):
        maps = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = yolo.train_yolo(data, tmp / f"{name}-{seed}", epochs=args.epochs, imgsz=args.imgsz, batch=16,
                                seed=seed, patience=100, **YOLO_VARIANTS[name])
            maps.append(r.val_native.get("map50_95", float("nan")))
        print(f"{name}: toy val mAP50-95 per seed {[round(m, 3) for m in maps]} (mean {statistics.mean(maps):.3f})",
              flush=True)


def baseline(args) -> None:
    from synthgap.cli import main
    real = Path(args.real)
    out = Path(args.out)
    t0 = time.monotonic()
    argv = ["benchmark", "run", "--real", str(real / "annotations_coco.json"), "--images", str(real / "images"),
            "--split", str(real / "split.json"), "--detectors", args.detectors, "--epochs", str(args.epochs),
            "--seeds", str(args.seeds), "--imgsz", str(args.imgsz), "--patience", str(args.patience),
            "--init", args.init, "--regimes", "real", "--out", str(out)]
    if args.category:
        argv += ["--category", args.category]
    rc = main(argv)
    if rc:
        sys.exit(rc)
    print(f"wall {time.monotonic() - t0:.0f} s")
    for p in sorted((out / "results").glob("*.json")):
        r = json.loads(p.read_text())
        t = r["test"]
        print(f"{p.stem}: test mAP {t['map']:.4f} AP50 {t['ap50']:.4f} AP75 {t['ap75']:.4f} | best epoch "
              f"{r['best_epoch']}/{r['epochs_run']} val mAP {r['val']['map']:.4f} | train {r['train_s']:.0f} s "
              f"({r['init']})")


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--n", type=int, default=100)
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--imgsz", type=int, default=320)
    s.add_argument("--detectors", default="yolo,frcnn")
    s.add_argument("--inits", default="imagenet,scratch", help="Faster R-CNN starts to time")
    c = sub.add_parser("cpu-train")
    c.add_argument("--n", type=int, default=150)
    c.add_argument("--rounds", type=int, default=4)
    c.add_argument("--imgsz", type=int, default=320)
    c.add_argument("--variants", default="", help=f"comma-separated, the first is the reference (default all: "
                                                   f"{', '.join(VARIANTS)})")
    y = sub.add_parser("yolo-train")
    y.add_argument("--n", type=int, default=150)
    y.add_argument("--epochs", type=int, default=3)
    y.add_argument("--imgsz", type=int, default=320)
    y.add_argument("--variants", default="", help=f"comma-separated, the first is the reference (default all: "
                                                   f"{', '.join(YOLO_VARIANTS)})")
    m = sub.add_parser("yolo-map")
    m.add_argument("--n", type=int, default=150)
    m.add_argument("--epochs", type=int, default=20)
    m.add_argument("--seeds", type=int, default=2)
    m.add_argument("--first-seed", type=int, default=0)
    m.add_argument("--imgsz", type=int, default=320)
    m.add_argument("--variants", default="fp32,bf16")
    b = sub.add_parser("baseline")
    b.add_argument("--real", default=str(REPO.parent / "shared" / "realsets" / "bottles"))
    b.add_argument("--category", default="bottle")
    b.add_argument("--detectors", default="yolo")
    b.add_argument("--init", default="auto", help="Faster R-CNN start weights")
    b.add_argument("--epochs", type=int, default=60)
    b.add_argument("--patience", type=int, default=30)
    b.add_argument("--seeds", default="1")
    b.add_argument("--imgsz", type=int, default=320)
    b.add_argument("--out", default=str(REPO / ".synthgap" / "bench_real_baseline"))
    args = p.parse_args()
    (REPO / ".synthgap").mkdir(exist_ok=True)
    {"speed": speed, "cpu-train": cpu_train, "yolo-train": yolo_train, "yolo-map": yolo_map,
     "baseline": baseline}[args.cmd](args)


if __name__ == "__main__":
    cli()
