"""`synthgap render` (also `python -m render`): a SceneConfig or a plan -> COCO dataset dir."""
from __future__ import annotations

import argparse

from core.errors import UserError

EPILOG = """examples:
  synthgap render --config cfg.yaml --n 200 --out DIR --workers 2 [--seed S] [--shard-size K]
  synthgap render --plan plan.yaml --out DIR
  synthgap render --config cfg.yaml --n 200 --out DIR --backend ray [--ray-address HOST:6379]
Rerun the same command after an interruption to resume (only missing shards are rendered).
--backend ray without an address (or $SYNTHGAP_RAY_ADDRESS) starts a local Ray instance with --workers slots;
on a cluster, --out must be on a filesystem shared by all nodes (same path), and each node needs the checkout
(same path) with its render venv and asset cache."""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="synthgap render", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Render scenes with BlenderProc (render environment workers).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="SceneConfig YAML (docs/design.md §1)")
    src.add_argument("--plan", help="plan.yaml (design.md §5): several configs with counts, one dataset dir")
    ap.add_argument("--n", type=int, help="number of scenes (images) for --config")
    ap.add_argument("--out", required=True, help="dataset dir (created; a partial one is resumed)")
    ap.add_argument("--workers", type=int, default=2, help="render worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=None, help="master seed (default: the (first) config's seed)")
    ap.add_argument("--shard-size", type=int, default=None,
                    help="scenes per shard, the unit of resume and retry (default: 8, fewer for small jobs so each "
                         "worker gets ~8 shards (ray: >= 1 per slot); a resumed dir keeps its own)")
    ap.add_argument("--recycle-after", type=int, default=200,
                    help="scenes a worker process renders before it is replaced (bounds memory; default 200)")
    ap.add_argument("--retries", type=int, default=2, help="retries of a shard whose worker crashed (default 2)")
    ap.add_argument("--threads", type=int, default=None, help="Cycles threads per worker (default cores/workers)")
    ap.add_argument("--backend", choices=("local", "ray"), default="local",
                    help="local worker processes (default) or Ray tasks, one shard each")
    ap.add_argument("--ray-address", default=None,
                    help="Ray cluster to join with --backend ray (default $SYNTHGAP_RAY_ADDRESS, else a local "
                         "instance); --workers caps the shards in flight, --threads is Cycles threads per task")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "optix"),
                    help="Cycles device (default auto: OptiX, else CUDA, else the CPU; render/devices.py); several "
                         "GPUs are split across --workers")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from core.io import check_not_input, input_paths
    from render.api import describe, render_dataset
    check_not_input(args.out, input_paths(vars(args)))

    if args.config and args.n is None:
        raise UserError("--n is required with --config")
    if args.plan and args.n is not None:
        raise UserError(f"{args.plan}: --n is not used with --plan (counts come from its entries)")
    out = render_dataset(args.config or args.plan, args.n, args.out, workers=args.workers, seed=args.seed,
                         backend=args.backend, ray_address=args.ray_address, shard_size=args.shard_size,
                         recycle_after=args.recycle_after, retries=args.retries, threads=args.threads, progress=not args.quiet,
                         device=args.device)
    d = describe(out)
    print(f"{out}: {d['images']} images, {d['annotations']} annotations ({', '.join(d['categories'])})")
    return 0

