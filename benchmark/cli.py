"""`synthgap benchmark run|report ...` (heavy imports happen inside the subcommands)."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import UserError


def _variant(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    name, path = text.split("=", 1)
    if not Path(path).exists():
        raise argparse.ArgumentTypeError(f"variant {name!r}: {path} does not exist")
    return name, path


def _seeds(text: str) -> list[int]:
    """argparse's type for --seeds: core.api.parse_seeds, its error as argparse's."""
    from core.api import parse_seeds
    try:
        return parse_seeds(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--seeds: ")) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthgap benchmark",
                                description="train detectors on dataset variants, score on real test images, report")
    sub = p.add_subparsers(dest="cmd", required=True)
    _run_cmd(sub)
    _curve_cmd(sub)
    _report_cmd(sub)
    return p


def _run_cmd(sub) -> None:
    r = sub.add_parser("run", help="train + score every (variant, detector, seed) cell; resumable")
    r.add_argument("--variants", nargs="*", type=_variant, default=[], metavar="NAME=DIR",
                   help="dataset dirs (COCO + images, docs/design.md §2) or COCO json files")
    r.add_argument("--real", required=True, help="real labels: a COCO json, a YOLO data.yaml (or "
                    "folder) or a Pascal VOC folder (core/real_source.py)")
    r.add_argument("--images", default=None, help="folder of the real images (default: the COCO "
                    "json's folder; YOLO/VOC labels name their own)")
    r.add_argument("--split", required=True, help="split.json with exposed / test image ids")
    r.add_argument("--category", default=None, help="train and score this class only (e.g. bottle)")
    from benchmark.detectors import DETECTORS
    from benchmark.regimes import REGIMES
    r.add_argument("--detectors", default=None, help=f"comma list of {', '.join(DETECTORS.names())} (default: "
                   "frcnn, yolo when --yolo-weights is given: YOLO from scratch learns next to nothing from a few "
                   "photos on a CPU budget)")
    r.add_argument("--regimes", default="synthetic,real", help="comma list (default: %(default)s): " + "; ".join(
        f"{n}: {REGIMES.get(n).description}" for n in REGIMES.names()))
    r.add_argument("--init", default="auto", help="Faster R-CNN start weights: auto (COCO weights when in the torch "
                   "hub cache, else the ImageNet backbone, else scratch), imagenet, coco, scratch, or a checkpoint "
                   "path (default: %(default)s)")
    r.add_argument("--bootstrap", type=int, default=300, help="bootstrap draws for the report's intervals "
                   "(default: %(default)s)")
    r.add_argument("--epochs", type=int, default=30, help="most epochs (default: %(default)s)")
    r.add_argument("--seeds", type=_seeds, default=[0], help="a count (3 = seeds 0,1,2) or a list 0,4,7")
    r.add_argument("--imgsz", type=int, default=320, help="input size, long side px (default: %(default)s)")
    r.add_argument("--patience", type=int, default=20, help="early stopping on the real exposed split")
    r.add_argument("--batch", type=int, default=8, help="batch size (default: %(default)s)")
    r.add_argument("--device", default=None, help="cpu, 0, cuda... (default: GPU when present); with --backend "
                   "ray a GPU here makes every cell ask Ray for one GPU and train on the one it is given")
    r.add_argument("--metadata", default=None, help="comma list of metadata for the D_B table (default: the usual "
                   "set)")
    r.add_argument("--mean-metadata", default=None, help="comma list the mean D_B averages, in the table and the "
                   "correlations (default: the aligned metadata, area_frac,cy, as `align fit`)")
    r.add_argument("--no-real-baseline", action="store_true",
                   help="do not add the baseline trained on the real exposed images")
    r.add_argument("--backend", choices=("local", "ray"), default="local", help="local: one cell after another "
                   "in this process; ray: every cell a Ray task (finished cells never retrained; a fine-tuning cell "
                   "after its synthetic one) (default: %(default)s)")
    r.add_argument("--ray-address", default=None, help="ray: the cluster, HOST:PORT (default: $SYNTHGAP_RAY_ADDRESS, "
                   "else a local Ray instance); the run dir and inputs must be at the same path on every node")
    r.add_argument("--workers", type=int, default=2, help="ray: most cells in flight (default: %(default)s)")
    r.add_argument("--threads", type=int, default=None, help="ray: CPUs each cell asks for and trains with "
                   "(default: this machine's cores / --workers on a local instance, 1 on a cluster)")
    r.add_argument("--retries", type=int, default=2, help="ray: a cell that fails (a crash, a lost node) is tried "
                   "again this many times (default: %(default)s)")
    r.add_argument("--out", required=True, help="run directory (rerun the same command to resume)")
    r.add_argument("--no-report", action="store_true", help="skip writing the report at the end")
    r.add_argument("--accept-changed-inputs", action="store_true", help="the real COCO, split or images were "
                   "edited since this run dir was started: move what was made from them to OUT/superseded/<time>/ "
                   "and start over (without it such a rerun is refused)")
    from benchmark.detectors import add_detector_args
    from benchmark.regimes import add_regime_args
    add_detector_args(r)
    add_regime_args(r)


def _curve_cmd(sub) -> None:
    cur = sub.add_parser("curve", help="how many photos do I need: real-only and fine-tuned-from-the-recommended-"
                         "set detectors on nested subsets of the exposed photos, mAP against N (RUN_DIR/curve/)")
    cur.add_argument("run_dir", help="a benchmark run dir (a `synthgap run`'s RUN/benchmark)")
    cur.add_argument("--sizes", default="5,10,20", help="subset sizes N; all exposed photos are added "
                     "(default: %(default)s)")
    cur.add_argument("--detector", default=None, help="the detector (default: the run's first)")
    cur.add_argument("--seeds", type=_seeds, default=None, help="seeds (default: the run's)")
    cur.add_argument("--bootstrap", type=int, default=300, help="bootstrap draws for the intervals")


def _report_cmd(sub) -> None:
    rep = sub.add_parser("report", help="report.md + self-contained report.html for a run dir")
    rep.add_argument("run_dir")
    rep.add_argument("--samples", type=int, default=3, help="test images with drawn detections per cell shown")
    rep.add_argument("--bootstrap", type=int, default=300, help="bootstrap draws for the intervals")
    rep.add_argument("--samplewise", action="store_true", help="add the sample-wise section: per real test box, "
                     "the nearest training crop's feature distance vs the best detection IoU")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.bootstrap < 10:
        raise UserError(f"--bootstrap must be >= 10, got {args.bootstrap}")
    if args.cmd == "run":
        from benchmark.detectors import default_detectors
        from benchmark.run import run_matrix
        from benchmark.spec import DISTANCE_METADATA, RunSpec
        from core.io import check_not_input, input_paths
        from core.real_source import resolve_args
        resolve_args(args)
        check_not_input(args.out, input_paths(vars(args)))
        for f in (args.real, args.split):
            if not Path(f).is_file():
                raise UserError(f"{f}: file not found")
        if not Path(args.images).is_dir():
            raise UserError(f"{args.images}: images folder not found")
        from benchmark.detectors import detector_args
        from benchmark.regimes import regime_args
        params = detector_args(args)
        spec = RunSpec(variants=args.variants, real_json=args.real, images_dir=args.images, split=args.split,
                       out=args.out, detectors=([d.strip() for d in args.detectors.split(",") if d.strip()]
                                                if args.detectors else default_detectors(params)),
                       epochs=args.epochs, seeds=args.seeds, imgsz=args.imgsz, category=args.category,
                       real_baseline=not args.no_real_baseline, patience=args.patience, device=args.device,
                       batch=args.batch, init=args.init, detector_params=params,
                       regimes=[x.strip() for x in args.regimes.split(",") if x.strip()],
                       regime_params=regime_args(args),
                       metadata=(args.metadata.split(",") if args.metadata else list(DISTANCE_METADATA)),
                       mean_metadata=(args.mean_metadata.split(",") if args.mean_metadata else None),
                       accept_changed=args.accept_changed_inputs, backend=args.backend,
                       ray_address=args.ray_address, workers=args.workers, threads=args.threads,
                       retries=args.retries)
        paths = run_matrix(spec)
        print(f"benchmark: {len(paths)} results in {Path(args.out) / 'results'}")
        if not args.no_report:
            from benchmark.report import write_report
            md = write_report(args.out, B=args.bootstrap)
            print(f"benchmark: report {md} and {md.with_suffix('.html')}")
        return 0
    if args.cmd == "curve":
        from benchmark.curve import run_curve
        try:
            sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--sizes: expected a comma list of counts, got {args.sizes!r}") from None
        md = run_curve(args.run_dir, sizes, args.detector, args.seeds, B=args.bootstrap)
        print(f"benchmark curve: {md} and {md.with_suffix('.html')}")
        return 0
    if args.cmd == "report":
        from benchmark.report import write_report
        md = write_report(args.run_dir, samples=args.samples, B=args.bootstrap, samplewise=args.samplewise)
        print(f"benchmark: report {md} and {md.with_suffix('.html')}")
        return 0
    return 2


def export_main(argv: list[str]) -> int:
    """`synthgap export --format yolo DIR OUT`."""
    p = argparse.ArgumentParser(prog="synthgap export", description="export a dataset dir (or a COCO json with "
                                "--images) to Ultralytics' YOLO layout: OUT/images, OUT/labels, OUT/data.yaml")
    p.add_argument("source", help="dataset dir (coco_annotations.json + images) or a COCO json")
    p.add_argument("out", help="new or empty folder (or an earlier export, rebuilt)")
    p.add_argument("--format", default="yolo", choices=("yolo",), help="target layout (default: %(default)s)")
    p.add_argument("--images", default=None, help="image folder of a COCO json (default: the json's folder)")
    p.add_argument("--category", default=None, help="export only this class (name or id; default: all)")
    p.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = p.parse_args(argv)
    from benchmark.convert import export_dataset
    from core.io import check_not_input, input_paths
    check_not_input(args.out, input_paths(vars(args)), option="OUT", deletes=True)
    out = export_dataset(args.source, args.out, args.format, args.images, args.category, args.link)
    print(f"export: {out} (train with Ultralytics: yolo train data={out / 'data.yaml'})")
    return 0

