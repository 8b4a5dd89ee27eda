"""Benchmark-harness figures for BENCHMARKS.md.

  speed     seconds per epoch per 100 training images at --imgsz (default 320) for yolov8n and the
            Faster R-CNN with each start of --inits (default imagenet,scratch), on generated 640x480 images
            (compute depends on the input size and the image count, not on the content). Epoch 1 (warm-up,
            caches) is excluded.
  baseline  the real-trained baseline: `synthgap benchmark run` with no variants on the real set
            (train + best epoch on the 30 exposed images, scored on the 59 test images); prints its mAP.

usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_benchmark.py speed [--n 100] [--epochs 3]
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
    speed(args) if args.cmd == "speed" else baseline(args)


if __name__ == "__main__":
    cli()
