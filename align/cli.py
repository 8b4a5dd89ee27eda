"""`synthgap align ...` (also `python -m align ...`): metadata tables, compare, GMM fit, config selection."""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from core.errors import UserError

from core.io import atomic_write_json

from align.quality import distance_row, load_zoo, score_set, zoo_weights

EPILOG = """examples:
  synthgap align metadata ../shared/realsets/bottles/annotations_coco.json --images ../shared/realsets/bottles/images \\
      --split ../shared/realsets/bottles/split.json --category bottle --out real.csv
  synthgap align compare out/probes/cfg-abc out/aligned --out cmp/
  synthgap align compare out/aligned --real REAL.json --images DIR --split split.json --category bottle --out cmp/
  synthgap align fit --real REAL.json --images DIR --split split.json --category bottle --out fit.json
  synthgap align select --fit fit.json --probes out/probes --total 2000 --out plan.yaml
  synthgap align filter out/baseline --real REAL.json --images DIR --split split.json --out out/feature-filtered
A source is a dataset dir (coco_annotations.json [+ sidecar.json]), a COCO json (+ --images), or a saved
metadata table (.csv / .json from `align metadata`). With --split only the exposed images are used unless
--subset says otherwise."""


def _add_source_opts(p: argparse.ArgumentParser, real: bool = False) -> None:
    if real:
        p.add_argument("--real", help="real labels: a COCO json (or dataset dir), a YOLO data.yaml (or folder) or a "
                       "Pascal VOC folder (core/real_source.py)")
    p.add_argument("--images", help="image folder of the COCO json (default: the json's folder)")
    p.add_argument("--split", help="split.json; selects --subset's image ids")
    p.add_argument("--subset", choices=("exposed", "test", "all"), default="exposed",
                   help="which split ids to use (default exposed; only exposed may drive fit/select)")
    p.add_argument("--category", help="keep only annotations of this category (name or id)")
    p.add_argument("--skip-invalid", action="store_true", help="report and skip bad images/annotations")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="synthgap align", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Dataset metadata, distances to real data, GMM fit, config selection.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for add in (_metadata_cmd, _compare_cmd, _filter_cmd, _predict_cmd, _shapes_cmd, _fit_cmd, _select_cmd):
        add(sub)
    return ap


def _metadata_cmd(sub) -> None:
    p = sub.add_parser("metadata", help="COCO -> metadata table file + summary")
    p.add_argument("source", help="dataset dir or COCO json")
    _add_source_opts(p)
    p.add_argument("--sidecar", help="render sidecar.json (a dataset dir's is found by itself)")
    p.add_argument("--out", help="table file (.csv or .json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _compare_cmd(sub) -> None:
    p = sub.add_parser("compare", help="D_B / BC / W1 per metadata of two sets + histogram PNGs")
    p.add_argument("sources", nargs="+", help="A B (or only B with --real)")
    _add_source_opts(p, real=True)
    p.add_argument("--metadata", help="comma list (default: every numeric metadata both sets have)")
    p.add_argument("--level", choices=("bbox", "image"), default="bbox")
    p.add_argument("--out", help="folder for compare.json and hist_<metadata>.png")
    p.add_argument("--realism", action="store_true", help="also KID (with its standard error) and FID between "
                   "the two sets' images, on ImageNet MobileNetV2 features (align/realism.py; COCO sources)")
    p.add_argument("--zoo", help="a finished `synthgap zoo` (folder or zoo.json): print B's training-free quality "
                   "score with the zoo's weights and where it would rank among the zoo's sets (use with --realism)")
    p.add_argument("--quiet", action="store_true")


def _filter_cmd(sub) -> None:
    p = sub.add_parser("filter", help="drop the images that look least like the real ones (feature scores, "
                       "elbow cut) -> a new dataset dir")
    p.add_argument("source", help="a finished dataset dir (coco_annotations.json + images), or any COCO json "
                   "(its images in --source-images): a real training set filtered against other real photos works too")
    _add_source_opts(p, real=True)
    p.add_argument("--source-images", help="image folder of a COCO json source (default: the json's folder)")
    p.add_argument("--score", choices=("knn", "kde"), default="knn", help="align/feature_filter.py (default knn)")
    p.add_argument("--action", choices=("drop", "blackout"), default="drop", help="drop the images above the "
                   "elbow, or black out the objects whose crops score above it and drop their boxes (default drop)")
    p.add_argument("--out", required=True, help="the filtered dataset dir to write")
    p.add_argument("--quiet", action="store_true")


def _predict_cmd(sub) -> None:
    p = sub.add_parser("predict", help="learn render-only metadata (depth, ...) from box-crop features of a "
                       "synthetic set, predict it for the real boxes -> a real metadata table (R² table printed)")
    p.add_argument("synthetic", help="a finished synthetic dataset dir with its sidecar.json")
    _add_source_opts(p, real=True)
    p.add_argument("--metadata", default=",".join(("depth", "visible_px", "occlusion_ad2", "bg_similarity")),
                   help="comma list of sidecar metadata to predict (default %(default)s)")
    p.add_argument("--out", required=True, help="the real metadata table to write (.csv or .json): use it as "
                   "`align fit --real TABLE`")
    p.add_argument("--extractor", default=None, help="features: the ImageNet MobileNetV2 (default), a benchmark "
                   "Faster R-CNN cell's best.pt (its trained backbone), or tv:<torchvision model> from the hub cache")
    p.add_argument("--quiet", action="store_true")


def _shapes_cmd(sub) -> None:
    p = sub.add_parser("shapes", help="score each mesh of a synthetic set by how its object crops fit the real "
                       "ones; list the worst (drop them with exclude_assets)")
    p.add_argument("synthetic", help="a finished synthetic dataset dir with its sidecar.json")
    _add_source_opts(p, real=True)
    p.add_argument("--out", help="shapes.json to write (the table and the ids to drop)")


def _fit_cmd(sub) -> None:
    p = sub.add_parser("fit", help="GMM + silhouette on the real metadata -> fit.json")
    _add_source_opts(p, real=True)
    p.add_argument("--metadata", help="comma list (default area_frac,cy [+depth when present])")
    p.add_argument("--mode", choices=("1d", "joint"), default="1d")
    p.add_argument("--kmax", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", choices=("bbox", "image"), default="bbox")
    p.add_argument("--out", required=True, help="fit.json to write")
    p.add_argument("--quiet", action="store_true")


def _select_cmd(sub) -> None:
    p = sub.add_parser("select", help="pick configs for the fit's components from probe renders -> plan.yaml")
    p.add_argument("--fit", required=True, help="fit.json from `align fit`")
    p.add_argument("--probes", required=True, help="folder with one probe dataset dir per config")
    p.add_argument("--total", type=int, required=True, help="images in the plan")
    p.add_argument("--out", required=True, help="plan.yaml to write")
    p.add_argument("--category", help="probe annotations to use (default: the fit's category)")
    from align.selectors import SELECTORS
    p.add_argument("--method", choices=SELECTORS.names(), default="component",
                   help="the selector (default: %(default)s): " + "; ".join(
                       f"{n}: {SELECTORS.get(n).description}" for n in SELECTORS.names()))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    from core.params import add_registry_args
    add_registry_args(p, SELECTORS)

# ------------------------------------------------------------------------------------------------ sources
def load_source(src: str, images: str | None = None, split: str | None = None, subset: str = "exposed",
                category: str | None = None, skip_invalid: bool = False, sidecar: str | None = None,
                progress: bool = False, dataset: str | None = None):
    """A MetadataTable from a dataset dir, a COCO json (+images/split) or a saved table file; a source without
    any box (empty COCO, empty split, no annotation of the category) is an error, not an empty table."""
    t = _load_source(src, images, split, subset, category, skip_invalid, sidecar, progress, dataset)
    if t.n("bbox") == 0:
        what = f"the {subset} images of {split}" if split else "its images"
        raise UserError(f"{src}: no box of {category or 'any category'} on {what}: nothing to measure "
                        "(check --category, --split and --subset)")
    return t


def check_source(src: str) -> Path:
    """A source exists and, when a dataset dir, is complete (checked for every source before any work)."""
    p = Path(src)
    if not p.exists():
        raise UserError(f"{p}: not found (expected a dataset dir, a COCO json or a metadata table)")
    if p.is_dir() and (p / "coco_annotations.json").is_file() and not (p / "DONE").exists():
        raise UserError(f"{p}: dataset directory has no DONE marker (an incomplete render: rerun it)")
    return p


def _load_source(src: str, images: str | None, split: str | None, subset: str, category: str | None,
                 skip_invalid: bool, sidecar: str | None, progress: bool, dataset: str | None):
    from align.metadata import MetadataTable, compute_metadata, metadata_for_dir
    from core.io import read_json

    p = check_source(src)
    if p.is_dir():
        if split:
            ids = _split_ids(split, p / "coco_annotations.json", subset)
            side = Path(sidecar) if sidecar else p / "sidecar.json"
            return compute_metadata(p / "coco_annotations.json", images or p, category=category, image_ids=ids,
                                    sidecar=side if side.is_file() else None, dataset=dataset or p.name,
                                    skip_invalid=skip_invalid, progress=progress)
        if images is None and sidecar is None:
            return metadata_for_dir(p, category=category, dataset=dataset, skip_invalid=skip_invalid,
                                    progress=progress)
        side = Path(sidecar) if sidecar else p / "sidecar.json"
        return compute_metadata(p / "coco_annotations.json", images or p, category=category,
                                sidecar=side if side.is_file() else None, dataset=dataset or p.name,
                                skip_invalid=skip_invalid, progress=progress)
    if p.suffix.lower() == ".csv":
        return MetadataTable.load(p)
    d = read_json(p, "COCO json or metadata table")
    if isinstance(d, dict) and "columns" in d and "data" in d:
        return MetadataTable.load(p)
    ids = _split_ids(split, p, subset) if split else None
    if sidecar is None and (p.parent / "sidecar.json").is_file() and images is None:
        sidecar = str(p.parent / "sidecar.json")
    return compute_metadata(p, images, category=category, image_ids=ids, sidecar=sidecar,
                            dataset=dataset or (p.parent.name if p.name == "coco_annotations.json" else p.stem),
                            skip_invalid=skip_invalid, progress=progress)


def _split_ids(split: str, coco_json: Path, subset: str) -> list[int] | None:
    from core.coco import load_split

    sp = load_split(split, coco_json)
    return None if subset == "all" else list(getattr(sp, subset))


def _fmt(v, width: int = 10) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.4g}".rjust(width)
    return str(v).rjust(width)


# ------------------------------------------------------------------------------------------------ commands
def cmd_metadata(args) -> int:
    t = load_source(args.source, args.images, args.split, args.subset, args.category, args.skip_invalid,
                    args.sidecar, progress=not args.quiet)
    for s in t.skipped:
        print(f"skipped: {s}", file=sys.stderr)
    print(f"{t.dataset}: {t.n('bbox')} boxes in {t.n('image')} images"
          f"{f', {len(t.skipped)} skipped' if t.skipped else ''}")
    for level in ("bbox", "image"):
        print(f"\n{level} level:")
        print(f"{'metadata':<22}{'n':>6}{'mean':>11}{'std':>11}{'min':>11}{'median':>11}{'max':>11}")
        for s in t.summary(level):
            print(f"{s['name']:<22}{s['n']:>6}" + "".join(_fmt(s[k], 11) for k in ("mean", "std", "min", "median", "max")))
    if args.out:
        t.save(args.out)
        print(f"\nwrote {args.out}")
    return 0


def cmd_compare(args) -> int:
    from align.distances import compare_tables

    srcs = list(args.sources)
    prog = not args.quiet
    for src in srcs + ([args.real] if args.real else []):
        check_source(src)
    if args.real:
        if len(srcs) != 1:
            raise UserError("compare: with --real give exactly one other source (B)")
        a = load_source(args.real, args.images, args.split, args.subset, args.category, args.skip_invalid,
                        progress=prog, dataset=f"real-{args.subset}" if args.split else "real")
        b = load_source(srcs[0], category=args.category, skip_invalid=args.skip_invalid, progress=prog)
    else:
        if len(srcs) != 2:
            raise UserError(f"compare: give two sources A B (got {len(srcs)}), or --real ... and B")
        a = load_source(srcs[0], args.images, args.split, args.subset, args.category, args.skip_invalid,
                        progress=prog)
        b = load_source(srcs[1], category=args.category, skip_invalid=args.skip_invalid, progress=prog)
    if a.dataset == b.dataset:
        b.dataset = b.dataset + " (B)"
    if args.metadata:
        md = [m.strip() for m in args.metadata.split(",") if m.strip()]
    else:
        md = [m for m in a.numeric_columns() if a.has(m, args.level) and b.has(m, args.level)]
    res = compare_tables(a, b, md, level=args.level)
    print(f"A = {a.dataset} ({a.n(args.level)} {args.level} rows), B = {b.dataset} ({b.n(args.level)} rows)")
    print(f"{'metadata':<22}{'n A':>7}{'n B':>7}{'mean A':>11}{'mean B':>11}{'D_B':>9}{'BC':>8}{'bins':>6}{'W1':>11}")
    for m, r in res.items():
        print(f"{m:<22}{r.n_a:>7}{r.n_b:>7}{_fmt(r.mean_a, 11)}{_fmt(r.mean_b, 11)}{_fmt(r.db, 9)}"
              f"{_fmt(r.bc, 8)}{r.n_bins:>6}{_fmt(r.w1, 11)}" + (f"  ({r.reason})" if r.reason else ""))
    zoo = load_zoo(args.zoo) if args.zoo else None     # a bad --zoo fails before the slow realism
    real = _realism(args, srcs) if args.realism else None
    if real:
        print(f"\nrealism: KID {real['kid']:.4f} ± {real['se']:.4f} (se, {real['B']} bootstrap draws), "
              f"FID {real['fid']:.1f}, KNN precision {real['precision']:.2f} / recall {real['recall']:.2f}; "
              f"{real['n_real']} vs {real['n_synth']} images, {real['extractor']} features")
        print("realism metrics (lower = closer; align/realism_metrics.py): " + ", ".join(
            f"{m} {v:.4g}" for m, v in real["metrics"].items()))
    if zoo:
        print(zoo_line(zoo, distance_row(res, real), args.zoo))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        pngs = write_histograms(a, b, res, out, args.level)
        atomic_write_json(out / "compare.json", {"a": a.dataset, "b": b.dataset, "level": args.level,
                                                 "results": {m: r.to_dict() for m, r in res.items()},
                                                 "png": {m: p.name for m, p in pngs.items()},
                                                 **({"realism": real} if real else {})})
        print(f"\nwrote {out / 'compare.json'} and {len(pngs)} histogram PNGs in {out}")
    return 0


def zoo_line(zoo: dict, row: dict, where: str) -> str:
    """B's quality score with a zoo's weights and its place among the zoo's own sets (scored the same way)."""
    w = zoo_weights(zoo)
    sc = score_set(w, row)
    if sc is None:
        return f"\nquality score: n/a (B has none of the metrics {where} weights: {', '.join(w.w)}; try --realism)"
    others = [score_set(w, r["distances"]) for r in zoo["sets"].values()]
    rank = 1 + sum(o is not None and o < sc for o in others)
    return (f"\nquality score {sc:.2f} (weights of {where}; lower = predicted better): it would rank {rank} of "
            f"{len(others) + 1} among the zoo's sets")


def _cut_text(cut: float | None, score: str) -> str:
    return "no elbow: nothing dropped" if cut is None else f"cut at {score} score {cut:.4g}"


def cmd_filter(args) -> int:
    from align.feature_filter import blackout_objects, filter_dataset
    from core.coco import load_coco
    from core.io import check_out_dir
    if not args.real:
        raise UserError("--real: the real COCO json (or dataset dir) the images are scored against")
    src = Path(args.source)
    if src.is_file():
        load_coco(src, args.source_images)             # any COCO json: checked (and its images) before writing
    elif not (src / "coco_annotations.json").is_file() or not (src / "DONE").exists():
        raise UserError(f"{src}: not a finished dataset dir (coco_annotations.json + DONE) nor a COCO json")
    out = check_out_dir(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: --out is not empty (choose a new folder)")
    real = load_coco(args.real, args.images)
    ids = _split_ids(args.split, real.json_path, args.subset) if args.split else None
    if args.action == "blackout":
        rep = blackout_objects(src, real, ids, out, score=args.score, images_dir=args.source_images)
        print(f"{out}: {rep['objects_out']} of {rep['objects_in']} objects kept, the others blacked out "
              f"({_cut_text(rep['cut'], args.score)}; {rep['extractor']} features); all {rep['images']} images kept")
        return 0
    rep = filter_dataset(src, real, ids, out, score=args.score, images_dir=args.source_images)
    cut = _cut_text(rep["cut"], args.score)
    print(f"{out}: {rep['images_out']} of {rep['images_in']} images kept ({cut}; {rep['extractor']} features)")
    if not args.quiet and rep["dropped"]:
        print("dropped: " + ", ".join(rep["dropped"][:20]) + (" ..." if len(rep["dropped"]) > 20 else ""))
    return 0


def _synthetic_and_real(args, what: str) -> Path:
    """The checks `align predict` and `align shapes` share: --real given, the synthetic argument a finished
    dataset dir with a sidecar. -> that dir."""
    if not args.real:
        raise UserError(f"--real: the real COCO json (or dataset dir) {what}")
    syn = Path(args.synthetic)
    if not (syn / "sidecar.json").is_file() or not (syn / "DONE").exists():
        raise UserError(f"{syn}: not a finished synthetic dataset dir with a sidecar.json")
    return syn


def cmd_predict(args) -> int:
    from align.metadata import check_names, compute_metadata
    from align.predict_metadata import learn_from_dirs, predict_real, r2_table
    from core.coco import load_coco
    if args.extractor and Path(args.extractor).is_file():      # a checkpoint is checked before any work
        from core.checkpoint import load_weights
        load_weights(args.extractor, "--extractor")
    syn_dir = _synthetic_and_real(args, "to predict the metadata for")
    wanted = check_names([m.strip() for m in args.metadata.split(",") if m.strip()])
    models = learn_from_dirs([syn_dir], wanted, category=args.category, extractor=args.extractor)
    real_cs = load_coco(args.real, args.images, category=args.category)
    ids = _split_ids(args.split, real_cs.json_path, args.subset) if args.split else None
    real_t = compute_metadata(real_cs.json_path, real_cs.images_dir, category=args.category, image_ids=ids,
                              dataset="real-predicted", progress=not args.quiet)
    table, done, check = predict_real(real_cs, ids, real_t, models, extractor=args.extractor)
    print("\n".join(r2_table(models, check)))
    table.save(args.out)
    print(f"wrote {args.out}: {table.n('bbox')} real boxes; predicted {', '.join(done) or 'nothing'}")
    return 0


def cmd_shapes(args) -> int:
    from align.feature_filter import shape_scores
    from core.coco import load_coco
    from core.io import read_json
    syn = _synthetic_and_real(args, "the shapes are scored against")
    real = load_coco(args.real, args.images, category=args.category)
    ids = _split_ids(args.split, real.json_path, args.subset) if args.split else None
    rows = shape_scores(load_coco(syn, category=args.category), read_json(syn / "sidecar.json", "sidecar"), real, ids)
    print("| mesh | boxes | kde score (higher = less like the photos) | dropped |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['asset_id']} | {r['boxes']} | {r['score']:.2f} | {'yes' if r['drop'] else ''} |")
    drop = [r["asset_id"] for r in rows if r["drop"]]
    print(f"drop: {drop or 'none (no elbow)'}" + (f"  -> exclude_assets: {drop}" if drop else ""))
    if args.out:
        atomic_write_json(Path(args.out), {"shapes": rows, "exclude_assets": drop})
    return 0


def _realism(args, srcs: list[str]) -> dict:
    """KID / FID between the compared sets' images: A (or --real, its --split subset when given) and B."""
    from align.realism_metrics import realism
    from core.coco import load_coco
    first = args.real or srcs[0]
    a = load_coco(first, args.images)
    ids = _split_ids(args.split, a.json_path, args.subset) if args.split else None
    return realism(a, ids, load_coco(srcs[-1]))


def write_histograms(a, b, res: dict, out: Path, level: str = "bbox") -> dict:
    """hist_<metadata>.png: A and B on the D_B bins (densities), title with D_B and W1."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pngs = {}
    for m, r in res.items():
        if r.db is None:
            continue
        va, vb = a.values(m, level), b.values(m, level)
        va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
        edges = np.asarray(r.edges) if r.edges else 20
        fig, ax = plt.subplots(figsize=(5, 3.4), dpi=100)
        ax.hist(va, bins=edges, density=True, alpha=0.55, label=f"{a.dataset} (n={va.size})", color="tab:blue")
        ax.hist(vb, bins=edges, density=True, alpha=0.55, label=f"{b.dataset} (n={vb.size})", color="tab:orange")
        ax.set_title(f"{m}: D_B={r.db:.3f}, W1={r.w1:.3g}, {r.n_bins} bins", fontsize=9)
        ax.set_xlabel(m)
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out / f"hist_{m}.png"
        fig.savefig(p)
        plt.close(fig)
        pngs[m] = p
    return pngs


def _check_out_file(path: str) -> None:
    from core.io import check_out_dir
    if Path(path).is_dir():
        raise UserError(f"{path}: --out is a folder; give a file name (e.g. {Path(path) / 'out.json'})")
    check_out_dir(Path(path).parent)


def cmd_fit(args) -> int:
    from align.gmm import fit_gmm

    _check_out_file(args.out)
    if not args.real:
        raise UserError("fit: --real REAL.json (or a dataset dir) is required")
    t = load_source(args.real, args.images, args.split, args.subset, args.category, args.skip_invalid,
                    progress=not args.quiet, dataset=f"real-{args.subset}" if args.split else "real")
    if not args.split:
        print("warning: no --split: fitted on every image of --real (only exposed images should drive the fit)",
              file=sys.stderr)
    md = [m.strip() for m in args.metadata.split(",") if m.strip()] if args.metadata else None
    src = {"real": str(Path(args.real).resolve()), "images": str(Path(args.images).resolve()) if args.images else None,
           "split": str(Path(args.split).resolve()) if args.split else None, "subset": args.subset,
           "category": args.category}
    f = fit_gmm(t, metadata=md, mode=args.mode, kmax=args.kmax, seed=args.seed, level=args.level, source=src)
    f.to_json(args.out)
    print(f"{t.dataset}: {f.n_real} {args.level} rows, metadata {', '.join(f.metadata)}, mode {f.mode}")
    _print_fit("joint" if len(f.metadata) > 1 else f.metadata[0], f.to_dict(), f.metadata)
    for m, sub in f.fits.items():
        if len(f.metadata) > 1:
            _print_fit(m, sub, [m])
    print(f"wrote {args.out}")
    return 0


def _print_fit(label: str, d: dict, md: list[str]) -> None:
    sil = ", ".join(f"K={k}: {_fmt(v, 0).strip()}/{_fmt(d.get('silhouette_null', {}).get(k), 0).strip()}"
                    for k, v in d["silhouette"].items() if k != "1")
    print(f"  {label}: K={d['k']}  (silhouette/single-Gaussian: {sil or 'n/a'})  {d.get('k_reason', '')}")
    for i, c in enumerate(d["components"]):
        sd = [math.sqrt(max(c["cov"][j][j], 0.0)) for j in range(len(md))]
        print(f"    component {i}: weight {c['weight']:.3f}  " +
              ", ".join(f"{m} {c['mean'][j]:.4g}±{sd[j]:.3g}" for j, m in enumerate(md)))


def cmd_select(args) -> int:
    from align.gmm import Fit
    from align.probes import load_probes
    from align.select import select_configs

    from align.selectors import own_params
    own = own_params(args, args.method)                   # checked before any work
    _check_out_file(args.out)
    fit = Fit.load(args.fit)
    category = args.category if args.category is not None else fit.source.get("category")
    probes = load_probes(args.probes, category=category, progress=not args.quiet)
    plan = select_configs(fit, probes, args.total, seed=args.seed, method=args.method, params=own)
    plan.to_yaml(args.out)
    for s in plan.skipped:
        print(f"probe left out: {s}", file=sys.stderr)
    print(f"{len(probes)} probes, {fit.k} components -> {len(plan.entries)} configs, {plan.total} images")
    for e in plan.entries:
        print(f"  {e.config_name}: {e.count:>6} images  components {e.component}")
        for w in e.why.split(" | "):
            print(f"      {w}")
    if plan.predicted_db:
        print("predicted D_B of the planned mixture to the real data [95 % interval from resampling the probes]: " +
              ", ".join(f"{m} {_fmt(v, 0).strip()}" + (" [{:.3f}, {:.3f}]".format(*plan.predicted_ci[m])
                                                       if m in plan.predicted_ci else "")
                        for m, v in plan.predicted_db.items()))
    for n in plan.notes:
        print(f"warning: {n}", file=sys.stderr)
    print(f"wrote {args.out} (render it: synthgap render --plan {args.out} --out DIR)")
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = build_parser().parse_args(argv)
    from core.real_source import resolve_args
    resolve_args(args, fill_images=False)
    if getattr(args, "out", None):
        from core.io import check_not_input, input_paths
        check_not_input(args.out, input_paths(vars(args)))
    return {"metadata": cmd_metadata, "compare": cmd_compare, "fit": cmd_fit, "select": cmd_select,
            "filter": cmd_filter, "predict": cmd_predict, "shapes": cmd_shapes}[args.cmd](args)

