"""The selector extension point: registered classes that turn a fit and probe renders into a render plan.

Protocol (scikit-learn style: parameters in the constructor, one verb):

    sel = SELECTORS.get(name)(seed=0, real=real_table)     # real: the real MetadataTable (predicted D_B)
    plan = sel.select(fit, probes, total) -> align.select.Plan

Class attributes: `description` (one line, shown by the CLI and the reports), `variant` (the name of the
set `synthgap run` renders from its plan) and `plan_file` (the plan's file name in a run folder).
Adding a selector = one file with its class + one `SELECTORS.register(...)` line.
"""
from __future__ import annotations

from core.registry import Registry

SELECTORS: Registry[type] = Registry("selector", "--selectors")
SELECTORS.register("component", "align.select:ComponentSelector")
SELECTORS.register("mixture", "align.select:MixtureSelector")
