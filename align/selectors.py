"""The selector extension point: registered classes that turn a fit and probe renders into a render plan.

Protocol (scikit-learn style: parameters in the constructor, one verb):

    sel = SELECTORS.get(name)(seed=0, real=real_table)     # real: the real MetadataTable (predicted D_B)
    plan = sel.select(fit, probes, total) -> align.select.Plan

Class attributes: `description` (one line, shown by the CLI and the reports), `variant` (the name of the
set `synthgap run` renders from its plan), `plan_file` (the plan's file name in a run folder) and optionally
`Params`, a dataclass of the selector's own options (core/params.py): each field is the flag
`--<selector>-<field>` of `synthgap run`, `synthgap zoo` and `align select` (and a --config key), kept in
RunOptions.selector_params and the run's key, and reaches the selector as `params=` (an instance; the defaults
when None; a selector without Params is made with seed and real alone), e.g. the mixture selector's `--mixture-bandwidth-min`.
Adding a selector = one file with its class + one `SELECTORS.register(...)` line.
"""
from __future__ import annotations

from core.registry import Registry

SELECTORS: Registry[type] = Registry("selector", "--selectors")
SELECTORS.register("component", "align.select:ComponentSelector")
SELECTORS.register("mixture", "align.select:MixtureSelector")


def own_params(args, method: str):
    """`align select`'s selector options: the instance of `method`'s Params from its flags (None when it has
    none); a flag of another selector is refused."""
    from core.errors import UserError
    from core.params import check_registry, flag_name, registry_args
    given = registry_args(args, SELECTORS)
    other = sorted(n for n, v in given.items() if v and n != method)
    if other:
        raise UserError(f"{flag_name(other[0], sorted(given[other[0]])[0])}: an option of selector {other[0]}, but "
                        f"--method is {method}")
    return check_registry(SELECTORS, given, [method]).get(method)
