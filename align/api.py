"""align's public API: what code outside the package may import (docs/design.md §8).

    compute_metadata(coco_json, images_dir, category=, image_ids=, sidecar=) -> MetadataTable (cached by content)
    metadata_for_dir(dataset_dir, category=) -> MetadataTable
    bhattacharyya(a, b) -> DistanceResult(db, bc, n_bins, w1); compare_tables(real, synth, metadata) -> {m: ...}
    half_split_floor({metadata: values}, groups=None) -> {m: D_B of two halves of one sample} (the real-vs-real floor)
    fit_gmm(real_table, metadata=, mode=, kmax=, seed=) -> Fit (fit.json); FIT_METADATA, default_metadata(table)
    (what a fit aligns on when not told: area_frac, cy, + depth where the table has it)
    load_probes(probes_dir) -> {config_name: Probe(config, table)}; probe_dirs(probes_dir, name) -> its render dirs;
    MORE_DIR (grown probes' folder) (align/probes.py); Plan, PlanEntry (align/plan.py: plan.yaml)
    SELECTORS (registry): SELECTORS.get(name)(seed=, real=).select(fit, probes, total) -> Plan (plan.yaml)
    select_configs(fit, probes, total, real=, seed=, method=) (the same, by name); plan_mixture_table(plan, probes)
    realism(real_cs, real_ids, synth_cs, synth_ids=None, B=200) -> {kid, se, fid, ..., metrics}; kid(x, y), fid(x, y)
    REALISM_METRICS (registry: a zoo realism metric = a class with distance(real, synth) + one register line)
    extract(image_paths or (path, box) crops, extractor=None) -> (n, 1280) features (cached); coco_features(cs,
    ids=None); crop_features(cs, ids=None, extractor=None) -> (rows, annotation ids)
    knn_scores / kde_scores(synth, real), elbow(scores), keep_mask(scores), precision_recall(real, synth),
    pairwise_distances(a, b); filter_dataset(src, real_cs, real_ids, dst, score=, images_dir=) (feature
    filtering; src a dataset dir or any COCO json); blackout_objects(...) (the object-level action);
    shape_scores(syn_cs, sidecar, real_cs, real_ids) (shape alignment)
    placement_bounds(real_json, images, split, category=) -> Bounds; cut_sprites(set_dir) -> [Sprite];
    random_composite(set_dir, plates_dir, bounds, total, out, seed=, cutouts=, blend_px=) (align/composite.py)
    fit_models(feats, {metadata: values}) -> {metadata: MetadataModel(r2, ...)}; predict_table(real, feats, ids,
    models) (metadata predicted from features); learn_from_dirs(dataset_dirs, metadata, category=) -> models,
    predict_real(real_cs, ids, real_table, models) -> (table, predicted columns, R² against measured), r2_table
    rank_metrics(zoo_table), fit_weights / score_set / held_out_scores / evaluate / transfer / predicted_ranks,
    Weights, distance_row(compare results, realism), load_zoo(path), zoo_weights(zoo), auto_metadata(zoo, where,
    allowed) (align/quality.py: ranking sets without training)
    REFINERS (registry: learned, fda, colour); fit_refiner(method, render_dirs, real_json, images, split, out,
    refine_settings(steps, crop, batch, seed), category=, device=, force=) -> refiner dir; refine_dir(refiner,
    src, dst, device=) -> refine.json record (align/refine.py: sim-to-real refinement, boxes unchanged)
"""
from align.distances import DistanceResult, bhattacharyya, compare_tables, finite_mean, half_split_floor
from align.feature_filter import SCORES as FEATURE_SCORES
from align.feature_filter import (blackout_objects, elbow, filter_dataset, kde_scores, keep_mask, knn_scores,
                                  pairwise_distances,
                                  precision_recall, shape_scores)
from align.features import coco_features, crop_features, extract, find_backbone_weights
from align.predict_metadata import (MetadataModel, fit_models, learn_from_dirs, predict_real, predict_table,
                                    r2_table)
from align.gmm import FIT_METADATA, Fit, default_metadata, fit_gmm
from align.metadata import MetadataTable, compute_metadata, metadata_for_dir
from align.quality import (Weights, auto_metadata, distance_row, evaluate, fit_weights, held_out_scores, load_zoo,
                            predicted_ranks, rank_metrics, score_set, transfer, zoo_weights)
from align.realism import fid, kid
from align.realism_metrics import REALISM_METRICS, realism
from align.refine import REFINERS, apply as refine_dir, fit as fit_refiner, settings_from as refine_settings
from align.plan import Plan, PlanEntry
from align.probes import MORE_DIR, Probe, load_probes, probe_dirs
from align.plan_predict import plan_mixture_table
from align.select import select_configs
from align.selectors import SELECTORS

from align.metadata import NUMERIC_METADATA, SIDECAR_COLUMNS, check_names
from align.composite import bounds_from_photos as placement_bounds, cut_sprites, random_composite
from align.refine import build_parser as refine_parser, dataset_dir as refine_source_dir, run_args as refine_run

__all__ = ["FEATURE_SCORES", "DistanceResult", "bhattacharyya", "compare_tables", "half_split_floor", "Fit", "fit_gmm", "FIT_METADATA",
           "default_metadata", "MORE_DIR", "MetadataTable", "compute_metadata", "metadata_for_dir", "Plan",
           "PlanEntry", "Probe", "load_probes", "plan_mixture_table", "probe_dirs", "select_configs", "SELECTORS",
           "realism", "REALISM_METRICS", "kid", "fid", "extract", "coco_features", "find_backbone_weights",
           "crop_features", "elbow",
           "filter_dataset", "kde_scores", "keep_mask", "knn_scores", "pairwise_distances", "blackout_objects",
           "precision_recall", "shape_scores", "MetadataModel", "fit_models", "learn_from_dirs", "predict_real",
           "r2_table", "predict_table", "Weights", "auto_metadata", "distance_row", "evaluate", "fit_weights",
           "held_out_scores", "load_zoo", "predicted_ranks", "rank_metrics", "score_set", "transfer", "zoo_weights",
           "REFINERS", "refine_dir", "fit_refiner", "refine_settings", "NUMERIC_METADATA", "SIDECAR_COLUMNS",
           "check_names", "finite_mean", "refine_parser", "refine_source_dir", "refine_run", "placement_bounds", "cut_sprites",
           "random_composite"]
