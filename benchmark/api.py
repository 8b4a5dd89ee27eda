"""benchmark's public API: what code outside the package may import (docs/design.md §8).

    run_matrix(RunSpec(variants=[(name, dir)], real_json, images_dir, split, out, detectors, epochs, seeds, ...))
        -> [results/*.json]  (resumable: cells with a results file are skipped; RunSpec(backend="ray", workers,
        ray_address): every cell a Ray task)
    write_report(run_dir) -> report.md (+ report.html);  summarize(load_run(run_dir)) -> the one summary (typed: Summary of SetSummary of CellSummary)
    DETECTORS (registry) with the protocol of benchmark.detectors: TrainSettings, TrainSet, CellContext, Trained
    REGIMES (registry of training regimes, benchmark.regimes): what a cell trains on and from which start
    export_dataset(src, out, "yolo") / export_yolo(coco_set, out, names): Ultralytics' layout
    rename_variant(run_dir, old, new) -> cells renamed (a variant renamed, its trained cells kept)
    run_curve(run_dir, sizes=(5, 10, 20)) -> curve.md (mAP against the number of exposed photos)
    verdict_lines(recommendation, summary, intervals) -> the reports' verdict; recommend(candidates, baseline_db)
    and recommend_by_db(summary): the one rule of a recommended set (exposed photos only)
    predict_cell(spec, record, ids), box_scores(gt, dets), failing(scores), compare_groups(fail, found): where a
    finished cell's detector fails on the exposed photos (benchmark/failures.py, the top-down rounds)
    add_detector_args(parser), detector_args(args), add_regime_args(parser), regime_args(args): the detectors' and
    regimes' own options (their `Params`, core/params.py) as flags, and read back
    score_faster(gt, dets) -> COCO metrics;  make_toy_set(out, n): tiny generated sets for tests
    task_composite(set_dir, plates, real_json, images, split, bounds, total, out, seed=, steps=, w_real=, w_spread=,
        cutouts=, blend_px=, category=) -> the task-composite set (benchmark/composite_task.py: seed 000's synthesizer)
    frcnn_samples(cs, ids, names, imgsz) -> Faster R-CNN samples; config_values(weights, renders, photos, Halves,
        steps=, lr=, seed=, imgsz=) -> each config's one-step lookahead value (benchmark/lookahead.py);
        checkpoint_names(weights) -> the classes of a cell's checkpoint
"""
from benchmark.convert import export_dataset, export_yolo
from benchmark.curve import run_curve
from benchmark.detectors import DETECTORS, CellContext, Trained, TrainSet, TrainSettings
from benchmark.evaluate import METRIC_KEYS, score_faster
from benchmark.regimes import REGIMES
from benchmark.report import write_report
from benchmark.summary import CellSummary, MeanSd, SetSummary, Summary, load_run, summarize
from benchmark.rename import rename_variant
from benchmark.run import run_matrix
from benchmark.spec import RunSpec
from benchmark.toydata import make_toy_set, make_toy_split
from benchmark.verdict import recommend, recommend_by_db, verdict_lines

from benchmark.run import check_training
from benchmark.detectors import add_detector_args, default_detectors, detector_args
from benchmark.regimes import add_regime_args, regime_args
from benchmark.verdict import ALIAS, BASELINE as BASELINE_SET, candidate   # the comparison set
from benchmark.summary import mean_db
from benchmark.refine_check import label_check
from benchmark.intervals import Intervals, comparisons
from benchmark.report import detector_order, paired_section, results_table, hist_png, save_report, scatter_png
from benchmark.summary import mean_metadata
from benchmark.run import BASELINE as REAL_BASELINE    # the cells trained on the real photos
from benchmark.refine_task import LearnedTask
from benchmark.failures import box_scores, cell_weights, compare_groups, failing, predict_cell
from benchmark.per_class import per_class_section
from benchmark.composite_task import task_composite
from benchmark.frcnn import samples_for as frcnn_samples
from benchmark.lookahead import Halves, checkpoint_names, config_values

__all__ = ["export_dataset", "export_yolo", "DETECTORS", "CellContext", "Trained", "TrainSet", "TrainSettings",
           "METRIC_KEYS", "score_faster", "load_run", "summarize", "Summary", "SetSummary", "CellSummary", "MeanSd", "write_report", "RunSpec", "run_matrix",
           "make_toy_set", "make_toy_split", "rename_variant", "run_curve", "verdict_lines", "recommend",
           "recommend_by_db", "REGIMES", "check_training", "default_detectors", "ALIAS", "BASELINE_SET", "candidate",
           "mean_db", "label_check", "Intervals", "comparisons", "REAL_BASELINE", "detector_order", "mean_metadata",
           "paired_section", "results_table", "hist_png", "save_report", "scatter_png", "LearnedTask", "box_scores",
           "compare_groups", "failing", "predict_cell", "per_class_section", "add_detector_args", "detector_args",
           "add_regime_args", "regime_args", "task_composite",
           "cell_weights", "frcnn_samples", "Halves", "checkpoint_names", "config_values"]
