"""`synthgap demo`: the whole loop offline, against a synthetic stand-in target rendered from a hidden mixture
of grid configs (synthgap/defaults/demo_target.yaml), or against the user's photos with --real."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.api import UserError, atomic_write_json, load_yaml, log, read_json

from synthgap.options import RunOptions, add_common_args, apply_args, parse_with_config
from synthgap.report import config_brief
from synthgap.variants import baseline_mapping, deep_update

DEFAULTS = Path(__file__).resolve().parent / "defaults"


def _counts(n: int, weights: list[float]) -> list[int]:
    """Largest-remainder counts of n images for the mixture weights."""
    counts = [int(n * w / sum(weights)) for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: -(n * weights[i] / sum(weights) - counts[i]))[: n - sum(counts)]:
        counts[i] += 1
    return counts


def hidden_plan(grid_mapping: dict[str, Any], target: dict[str, Any], source: str) -> tuple[dict, dict, dict]:
    """The stand-in target's render plan, its hidden weight per grid config it matches, and config briefs."""
    from render.api import SceneConfig, expand_grid
    n, mix = int(target.get("images", 0)), target.get("mixture") or []
    if n < 2 or not mix:
        raise UserError(f"{source}: key 'images'/'mixture': need images >= 2 and a non-empty mixture")
    grid_by_key, briefs = {}, {}
    for cfg in expand_grid(grid_mapping):
        m = cfg.to_mapping()
        m.pop("seed", None)
        grid_by_key[json.dumps(m, sort_keys=True)] = cfg.name
        briefs[cfg.name] = config_brief(cfg.to_mapping())
    weights = [float(e.get("weight", 0)) for e in mix]
    if any(w <= 0 for w in weights):
        raise UserError(f"{source}: key 'mixture.weight': every weight must be > 0")
    entries, hidden = [], {}
    for e, c in zip(mix, _counts(n, weights)):
        m = deep_update(baseline_mapping(grid_mapping), e.get("overrides") or {})
        m["placement"] = grid_mapping.get("placement", "surface")
        m["seed"] = int(e.get("seed", 0))
        cfg = SceneConfig.from_mapping(m, f"{source} (mixture entry)")
        key = dict(cfg.to_mapping())
        key.pop("seed", None)
        name = grid_by_key.get(json.dumps(key, sort_keys=True), f"(not in grid) {cfg.name}")
        hidden[name] = hidden.get(name, 0.0) + c / n
        entries.append({"config": cfg.to_mapping(), "config_name": cfg.name, "count": c})
    return {"total": n, "entries": entries}, hidden, briefs


def make_split(coco_json: Path, out: Path, frac: float, seed: int) -> None:
    import numpy as np
    ids = sorted(im["id"] for im in read_json(coco_json, "COCO")["images"])
    perm = [int(i) for i in np.random.default_rng(seed).permutation(ids)]
    k = max(1, int(round(len(ids) * frac)))
    atomic_write_json(out, {"exposed": sorted(perm[:k]), "test": sorted(perm[k:])})


def stand_in_target(out: Path, grid: Path, target_path: Path, args: argparse.Namespace) -> tuple[Path, Path, Path, dict]:
    """Render the stand-in target (resumable) and its split. -> (COCO json, images, split, report context)."""
    from render.api import render_dataset
    target = load_yaml(target_path, "demo target")
    plan, hidden, briefs = hidden_plan(load_yaml(grid, "grid YAML"), target, str(target_path))
    log(f"stand-in target: {plan['total']} images from a hidden mixture of {len(plan['entries'])} configs "
        "(a synthetic stand-in for your real photos)")
    tdir = out / "target"
    render_dataset(plan, None, tdir, workers=args.workers, seed=int(target.get("seed", 4242)), backend=args.backend)
    real_json, split = tdir / "coco_annotations.json", out / "target_split.json"
    if not split.exists():
        make_split(real_json, split, float(target.get("exposed_fraction", 0.5)), int(target.get("seed", 4242)))
    return real_json, tdir, split, {"stand_in": True, "hidden_mixture": hidden, "config_brief": briefs}


def demo_defaults(grid: Path, real: bool = False) -> RunOptions:
    """Small scale: 64 images per set, 60 epochs at 128 px, the filtered set's 50 px rule scaled to the grid's
    render size; yolov8n from scratch on the stand-in (pinned: the demo's numbers in BENCHMARKS.md), Faster R-CNN
    (`synthgap run`'s default) on your photos (`real`)."""
    res = load_yaml(grid, "grid YAML").get("resolution", [640, 480])
    return RunOptions(real_json=Path(), images=Path(), split=Path(), grid=grid, out=Path("runs/demo"),
                      category="bottle", total=64, probe_n=12, epochs=60, imgsz=128,
                      detectors=["frcnn" if real else "yolo"], seeds=[0], min_px=max(4.0, round(50.0 * max(res) / 640.0)))


def demo_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="synthgap demo", description="Offline demo on embedded defaults: renders "
                                 "a synthetic stand-in target from a hidden mixture of configs, then runs the "
                                 "whole loop against it (or, with --real, against your photos).")
    ap.add_argument("--out", default="runs/demo", help="run folder, rerun to resume (default: %(default)s)")
    ap.add_argument("--grid", default=str(DEFAULTS / "demo_grid.yaml"), help="grid YAML (default: %(default)s)")
    ap.add_argument("--target", default=str(DEFAULTS / "demo_target.yaml"),
                    help="hidden mixture of the stand-in (default: %(default)s)")
    ap.add_argument("--real", default=None, help="your labels (switches the demo to your photos): a COCO json, a "
                    "YOLO data.yaml or a Pascal VOC folder")
    ap.add_argument("--images", default=None, help="folder of your images (with a COCO --real; default: its folder)")
    ap.add_argument("--split", default=None, help="your split.json (with --real)")
    ap.add_argument("--category", default="bottle", help="class to align and benchmark (default: %(default)s)")
    add_common_args(ap, demo_defaults(DEFAULTS / "demo_grid.yaml"), "yolo on the stand-in, frcnn with --real")
    args = parse_with_config(ap, argv)
    out, grid, context = Path(args.out), Path(args.grid), {}
    if args.real:
        if not args.split:
            raise UserError("--real needs --split")
        from core.api import resolve_args
        resolve_args(args)
        real_json, images, split = Path(args.real), Path(args.images), Path(args.split)
    else:
        real_json, images, split, context = stand_in_target(out, grid, Path(args.target), args)
    from dataclasses import replace
    opts = replace(demo_defaults(grid, real=bool(args.real)), real_json=real_json, images=images, split=split, out=out,
                   category=args.category)
    from synthgap.loop import run
    report = run(apply_args(opts, args), context)
    print(f"\nsynthgap demo: report at {report} and {report.with_suffix('.html')}")
    return 0
