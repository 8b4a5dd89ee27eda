"""synthgap's public API (the top floor: the closed loop). docs/design.md §8.

    run(RunOptions(real_json, images, split, grid, out, ...)) -> RUN/report.md   (`synthgap run`; resumable)
    VARIANTS (registry of comparison sets) with VariantContext; write_run_report(opts, context)
"""
from synthgap.options import RunOptions
from synthgap.report import write_run_report
from synthgap.loop import run
from synthgap.variants import VARIANTS, VariantContext, filter_small_objects

__all__ = ["RunOptions", "run", "write_run_report", "VARIANTS", "VariantContext", "filter_small_objects"]
