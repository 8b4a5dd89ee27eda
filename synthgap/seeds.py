"""The render seeds of a run's sets from its master seed (`--seed`): one scheme for the loop, its variants and
the zoo, so every set of a run has its own stream and a rerun renders the same images."""
from __future__ import annotations

# offsets below 1000 per master seed; probe growth rounds add 10_000
SEED_OFFSETS = {"aligned": 1,          # a plan rendered as a set (selector sets, photo-like and shape-aligned plans)
                "baseline": 2,         # the baseline and the sets made from its scenes (on-surface, baseline-photo)
                "probe": 100,          # + the grid config's index
                "zoo-single": 300,     # + the single config's index
                "zoo-grid": 400, "zoo-other-mode": 500,
                "zoo-subset": 700,     # + the set's index
                "round": 800,          # + the round: a top-down round's increment (synthgap/rounds.py)
                "oneshot": 900,        # + the round: its equal-budget control's increment
                "composite": 950}      # the composite sets' draws (synthgap/composite_sets.py)


def render_seed(master: int, role: str, index: int = 0, growth_round: int = 0) -> int:
    """The render seed of set `role` (SEED_OFFSETS) of a run with master seed `master`."""
    return int(master) * 1000 + SEED_OFFSETS[role] + int(index) + 10_000 * int(growth_round)
