"""benchmark's public API: what code outside the package may import (docs/design.md §8).

    run_matrix(RunSpec(variants=[(name, dir)], real_json, images_dir, split, out, detectors, epochs, seeds, ...))
        -> [results/*.json]  (resumable: cells with a results file are skipped)
    write_report(run_dir) -> report.md (+ report.html);  summarize(load_run(run_dir)) -> the one summary
    DETECTORS (registry) with the protocol of benchmark.detectors: TrainSettings, TrainSet, CellContext, Trained
    export_dataset(src, out, "yolo") / export_yolo(coco_set, out, names): Ultralytics' layout
    score_faster(gt, dets) -> COCO metrics;  make_toy_set(out, n): tiny generated sets for tests
"""
from benchmark.convert import export_dataset, export_yolo
from benchmark.detectors import DETECTORS, CellContext, Trained, TrainSet, TrainSettings
from benchmark.evaluate import METRIC_KEYS, score_faster
from benchmark.report import load_run, summarize, write_report
from benchmark.run import RunSpec, run_matrix
from benchmark.toydata import make_toy_set, make_toy_split

__all__ = ["export_dataset", "export_yolo", "DETECTORS", "CellContext", "Trained", "TrainSet", "TrainSettings",
           "METRIC_KEYS", "score_faster", "load_run", "summarize", "write_report", "RunSpec", "run_matrix",
           "make_toy_set", "make_toy_split"]
