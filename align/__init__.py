"""align: dataset metadata, distribution distances, GMM fit to real data, config selection.

Entry points (docs/design.md §8; the facade is align.api; imported lazily, nothing heavy here). The COCO layer
(load_coco, load_split, CocoSet, Split) is core.coco, the ground floor's.
  align.metadata   compute_metadata, metadata_for_dir, MetadataTable
  align.distances  bhattacharyya, compare_tables, compare_by_class, finite_mean, DistanceResult
  align.realism    kid, fid (the maths); align.realism_metrics: realism (two sets' images), REALISM_METRICS
  align.gmm        fit_gmm, Fit
  align.select     select_configs (the selectors); align.plan_predict: plan_mixture_table, a plan's prediction, grid reach
  align.probes     load_probes, probe_dirs, Probe
  align.plan       Plan, PlanEntry (plan.yaml)
  align.cli        main(argv) -> int   (`synthgap align ...`)
"""
