"""The benchmark's Ray backend: every cell a Ray task (`run_cell_task`, which writes the cell's results file
itself) on `ray_address` or a local instance, at most `workers` in flight, a cell that starts from another once
that one's results file exists, each tried 1 + `retries` times. The cells are benchmark/cells.py's."""
from __future__ import annotations

import os
import re
from pathlib import Path

from core.coco import load_coco, load_split
from core.errors import UserError
from core.io import atomic_write_json
from core.progress import Progress

from benchmark.cells import Cell, cell_context, make_detector, prior_cell, run_cell
from benchmark.spec import RunSpec
from benchmark.detectors import DETECTORS


GPU_DEVICE = re.compile(r"cuda(?::\d+)?|\d+")      # a --device that names a CUDA GPU


def ray_address(spec: RunSpec) -> str | None:
    return spec.ray_address if spec.ray_address is not None else os.environ.get("SYNTHGAP_RAY_ADDRESS")


class BenchmarkIncomplete(UserError):
    """Some cells failed after their retries (ray backend); the others' results are on disk, a rerun resumes."""


def run_cell_task(spec: RunSpec, cell: Cell, classes: dict, env_extra: dict[str, str]) -> dict:
    """Body of one Ray task (main environment, any node): train and score one cell and write its results file
    (atomically, by the task: a finished cell is kept whatever becomes of the driver). `classes` = the
    detector's and the regime's registered classes, so a user's registration travels with the task (pickled by
    reference: their module must import on the node, or by value from a script's __main__)."""
    import socket

    from benchmark.regimes import REGIMES
    os.environ.update(env_extra)
    DETECTORS.register(cell.detector, classes["detector"], replace=True)
    REGIMES.register(cell.regime, classes["regime"], replace=True)
    path = Path(spec.out) / "results" / f"{cell.name}.json"
    if path.exists():                    # finished meanwhile (another driver): never trained twice
        return {"skipped": True}
    real = load_coco(spec.real_json, spec.images_dir)
    split = load_split(spec.split, real)
    ctx = cell_context(spec, real, split, real.class_names(spec.category))
    sets = {n: load_coco(p) for n, p in spec.variants if n == cell.variant}
    record = run_cell(spec, ctx, cell, sets, make_detector(spec, cell.detector))
    atomic_write_json(path, record)
    return {"skipped": False, "map": record["test"]["map"], "host": socket.gethostname()}


def _absolute(spec: RunSpec, device: str | None) -> RunSpec:
    """The spec a task gets: every path absolute (a task runs on any node, in any folder) and the device."""
    from dataclasses import replace
    ab = os.path.abspath

    def maybe(p: str | None) -> str | None:
        return ab(p) if p and Path(p).exists() else p
    params = {d: {k: maybe(v) if isinstance(v, str) else v for k, v in p.items()}
              for d, p in spec.detector_params.items()}
    return replace(spec, variants=[(n, ab(p)) for n, p in spec.variants], real_json=ab(spec.real_json),
                   images_dir=ab(spec.images_dir), split=ab(spec.split), out=ab(spec.out),
                   real_table=maybe(spec.real_table), detector_params=params, init=maybe(spec.init), device=device)


def _check_feasible(ray, threads: int, gpus: int, spec: RunSpec) -> None:
    """A task no node can hold would wait forever: refuse it at once."""
    from core.raycluster import largest_node
    big = largest_node(ray)
    if big["CPU"] < threads:
        raise UserError(f"--threads {threads}: no node of the Ray cluster has that many CPUs (largest: "
                        f"{big['CPU']:g})")
    if gpus and big["GPU"] < gpus:
        raise UserError(f"--device {spec.device}: no node of the Ray cluster has a GPU (use cpu or leave it out)")


def run_ray(spec: RunSpec, todo: list[Cell], n_cells: int, bar: Progress) -> None:
    """The cells as Ray tasks, at most spec.workers in flight, each asking spec.threads CPUs (and one GPU when
    --device names one: it trains on the GPU Ray assigns it); a cell whose regime `needs` another starts once
    that cell's results file exists. Each cell is tried 1 + spec.retries times (core.raycluster.run_tasks:
    Ray's own max_retries=0, so a crashed worker and a lost node are retried, on any node, by the same loop as
    the render backend's); the retried cells are reported, the failed ones raised after the rest has run."""
    from benchmark.regimes import REGIMES
    from core.raycluster import forwarded_env, run_tasks, start_ray
    address, results = ray_address(spec), Path(spec.out) / "results"
    threads = spec.threads or (1 if address else max(1, (os.cpu_count() or 1) // spec.workers))
    gpus = 1 if GPU_DEVICE.fullmatch(spec.device or "") else 0
    prior = {c.name: prior_cell(spec, c) for c in todo if prior_cell(spec, c)}

    def ready(cell: Cell, run) -> bool | str:
        p = prior.get(cell.name)
        if p is None or (results / f"{p}.json").exists():
            return True
        return f"its {REGIMES.get(cell.regime).needs} cell {p} failed" if p in run.failures else False

    def done(cell: Cell, r: dict) -> None:
        bar.update(1, postfix=cell.name + ("" if r["skipped"] else f" test mAP {r['map']:.3f} ({r['host']})"))

    ray, started = start_ray(address, spec.workers, threads, "benchmark backend 'ray'")
    try:
        _check_feasible(ray, threads, gpus, spec)
        task = ray.remote(run_cell_task).options(num_cpus=threads, num_gpus=gpus, max_retries=0,
                                                 retry_exceptions=False)
        tspec = _absolute(spec, "cuda:0" if gpus else spec.device)
        env = {**forwarded_env(), "SYNTHGAP_THREADS": str(threads)}
        classes = {(c.detector, c.regime): {"detector": DETECTORS.get(c.detector), "regime": REGIMES.get(c.regime)}
                   for c in todo}
        run = run_tasks(ray, lambda c: task.remote(tspec, c, classes[c.detector, c.regime], env), todo,
                        spec.workers, spec.retries, key=lambda c: c.name, ready=ready, done=done)
    finally:
        if started:
            ray.shutdown()
    ok = run.retried_ok()
    if ok:
        first = next(iter(ok.items()))
        print(f"benchmark: {len(ok)} cell(s) finished after a retry ({first[0]}: {first[1]})", flush=True)
    if run.failures:
        lines = "; ".join(f"{name}: {why}" for name, (_, why) in sorted(run.failures.items()))
        raise BenchmarkIncomplete(f"{spec.out}: {len(run.failures)} of {n_cells} cells failed after {spec.retries} "
                                  f"retries ({n_cells - len(run.failures)} have results); rerun the same command "
                                  f"to retry them. {lines}")
