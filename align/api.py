"""align's public API: what code outside the package may import (docs/design.md §8).

    compute_metadata(coco_json, images_dir, category=, image_ids=, sidecar=) -> MetadataTable (cached by content)
    metadata_for_dir(dataset_dir, category=) -> MetadataTable
    bhattacharyya(a, b) -> DistanceResult(db, bc, n_bins, w1); compare_tables(real, synth, metadata) -> {m: ...}
    fit_gmm(real_table, metadata=, mode=, kmax=, seed=) -> Fit (fit.json)
    load_probes(probes_dir) -> {config_name: Probe(config, table)}
    SELECTORS (registry): SELECTORS.get(name)(seed=, real=).select(fit, probes, total) -> Plan (plan.yaml)
    select_configs(fit, probes, total, real=, seed=, method=) (the same, by name); plan_mixture_table(plan, probes)
    realism(real_cs, real_ids, synth_cs, synth_ids=None, B=200) -> {kid, se, fid, ...}; kid(x, y), fid(x, y)
    extract(image_paths) -> (n, 1280) features (the one extractor, cached); coco_features(cs, ids=None)
"""
from align.distances import DistanceResult, bhattacharyya, compare_tables
from align.features import coco_features, extract, find_backbone_weights
from align.gmm import Fit, fit_gmm
from align.metadata import MetadataTable, compute_metadata, metadata_for_dir
from align.realism import fid, kid, realism
from align.select import Plan, PlanEntry, Probe, load_probes, plan_mixture_table, select_configs
from align.selectors import SELECTORS

__all__ = ["DistanceResult", "bhattacharyya", "compare_tables", "Fit", "fit_gmm", "MetadataTable",
           "compute_metadata", "metadata_for_dir", "Plan", "PlanEntry", "Probe", "load_probes",
           "plan_mixture_table", "select_configs", "SELECTORS", "realism", "kid", "fid", "extract", "coco_features",
           "find_backbone_weights"]
