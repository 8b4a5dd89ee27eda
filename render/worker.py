"""Render worker (render environment): renders shards in-process, many scenes per Blender process.

    <render python> -m render.worker (--batch BATCH.json | --stdin) --log LOG [--threads T]

BATCH.json is a list of ShardSpec mappings; with --stdin the shards come one JSON mapping a line on stdin
until EOF (the local driver hands them out as workers get free). For each shard the worker renders its scenes (render/scene.py,
bproc initialised once, clean_up between scenes), then writes the shard result atomically; a shard whose
result file exists is skipped. Protocol lines go to the original stdout (`@scene SHARD IMAGE_ID`,
`@shard SHARD N_ANNOTATIONS`); Blender's own output goes to LOG. The process dies with its parent
(PR_SET_PDEATHSIG) and leaves through os._exit (bpy's exit segfault).

`run_shard(spec)` is the plain function a different backend (e.g. Ray tasks in the render environment)
can call directly.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from render.shards import SceneTask, ShardSpec

_MANIFESTS: dict[str, Any] = {}


def _manifest(path: str):
    if path not in _MANIFESTS:
        from render.manifest import load_manifest

        _MANIFESTS[path] = load_manifest(path)
    return _MANIFESTS[path]


def run_shard(spec: ShardSpec | dict, threads: int = 0,
              on_scene: Callable[[SceneTask], None] | None = None) -> dict[str, Any]:
    """Render one shard in this (render-environment) process; write its result file; return a summary."""
    from render.bproc_compat import import_blenderproc
    from core.io import atomic_write_json

    if isinstance(spec, dict):
        spec = ShardSpec.from_json(spec)
    if spec.result_path.exists():
        return {"shard_id": spec.shard_id, "skipped": True, "n_images": len(spec.scenes)}
    import_blenderproc()
    from render import scene

    chosen = scene.init_renderer(threads)
    print(f"render device: {chosen['device']} ({', '.join(chosen['names'])})", flush=True)
    manifest = _manifest(spec.manifest_path)
    t0 = time.monotonic()
    results = []
    for task in spec.scenes:
        results.append(scene.render_scene(task, manifest, spec.out_dir))
        if on_scene:
            on_scene(task)
    seconds = time.monotonic() - t0
    # timings stay out of the result file so reruns are byte-identical
    atomic_write_json(spec.result_path, {"shard": spec.shard_id, "scenes": results}, indent=None)
    return {"shard_id": spec.shard_id, "skipped": False, "n_images": len(results), "seconds": seconds,
            "n_annotations": sum(len(r["annotations"]) for r in results)}


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m render.worker")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--batch", help="JSON file: a list of ShardSpec mappings")
    src.add_argument("--stdin", action="store_true", help="ShardSpec mappings, one JSON line each, until EOF")
    ap.add_argument("--log", required=True)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    _die_with_parent()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if args.stdin:
        specs = (ShardSpec.from_json(json.loads(line)) for line in sys.stdin if line.strip())
    else:
        with open(args.batch, encoding="utf-8") as f:
            specs = iter([ShardSpec.from_json(d) for d in json.load(f)])
    code = 0
    try:
        for spec in specs:
            proto.write(f"@start {spec.shard_id}\n")
            res = run_shard(spec, args.threads,
                            on_scene=lambda t, s=spec: proto.write(f"@scene {s.shard_id} {t.image_id}\n"))
            proto.write(f"@shard {spec.shard_id} {res.get('n_annotations', -1)}\n")
    except BaseException:  # noqa: BLE001  report in the log, exit != 0; the driver retries the shard
        import traceback

        traceback.print_exc()
        code = 1
    proto.flush()
    return code


if __name__ == "__main__":
    from render.bproc_compat import hard_exit

    rc = main(sys.argv[1:])
    hard_exit(rc)
