"""The composite comparison sets of `synthgap run` (opt-in variants; seed 000, issue 25).

- random-composite: the whole objects of the recommended aligned set and of the run's probe renders (cut by their
  exact masks; align/composite.py says why the probes too) pasted onto the run's
  plates (RUN/plates: box-free crops of the exposed photos) at uniform placements inside the exposed photos'
  box ranges (cut-paste-learn; align/composite.py);
- task-composite: the same sprites and plates, placed by a synthesizer trained against the benchmark's Faster
  R-CNN under a realism term to the exposed photos (seed 000's task-aware compositing; benchmark/composite_task.py).
Both take `--<set>-bg-cutouts` (seed 000's blending artefacts pasted outside the boxes) and `--<set>-blend-px`;
task-composite also `--task-composite-steps`, `--task-composite-w-real` and `--task-composite-w-spread`. Equal
image count: `--total`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.api import read_json

from synthgap.seeds import render_seed
from synthgap.variants import COCO_NAME, VariantContext, run_plates


@dataclass
class CompositeParams:
    bg_cutouts: bool = field(default=False, metadata={"help": "paste mask-shaped pieces of another plate outside "
                                                              "every box with the same blend (seed 000)"})
    blend_px: float = field(default=1.0, metadata={"help": "Gaussian feathering of the pasted alpha, px"})

    def check(self) -> None:
        from core.api import UserError
        if not 0 <= self.blend_px <= 20:
            raise UserError(f"--<set>-blend-px: between 0 and 20, got {self.blend_px}")


@dataclass
class TaskParams(CompositeParams):
    steps: int = field(default=150, metadata={"help": "alternating synthesizer / detector steps"})
    w_real: float = field(default=1.0, metadata={"help": "weight of the realism term (MMD to the exposed photos)"})
    w_spread: float = field(default=1.0, metadata={"help": "weight of the spread term (KL of the placements to "
                                                           "uniform draws; keeps the synthesizer from collapsing)"})

    def check(self) -> None:
        from core.api import UserError
        super().check()
        if self.steps < 1 or self.w_real < 0 or self.w_spread < 0:
            raise UserError(f"--task-composite-steps >= 1, --task-composite-w-real and --task-composite-w-spread "
                            f">= 0, got {self.steps}, {self.w_real}, {self.w_spread}")


def _inputs(ctx: VariantContext):
    """(sprite sources: the aligned set then the run's probe renders, plates dir, placement bounds) of a run."""
    from align.api import placement_bounds
    o, src = ctx.opts, ctx.sets / ctx.aligned_set()[0]
    im = read_json(src / COCO_NAME, "COCO")["images"][0]
    plates = run_plates(ctx, (int(im["width"]), int(im["height"])))
    probes = sorted(p.parent for p in (o.out / "probes").rglob("DONE")) if (o.out / "probes").is_dir() else []
    return [src, *probes], plates, placement_bounds(o.real_json, o.images, o.split, o.category)


class RandomComposite:
    description = ("the aligned set's objects pasted onto plates of the exposed photos at uniform placements in the "
                   "photos' box ranges (cut-paste-learn; align/composite.py)")
    needs: tuple[str, ...] = ()
    default = False          # opt in: --variants ...,random-composite
    Params = CompositeParams

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import random_composite
        p = ctx.params("random-composite")
        src, plates, bounds = _inputs(ctx)
        random_composite(src, plates, bounds, ctx.opts.total, out, render_seed(ctx.opts.seed, "composite"),
                         p.bg_cutouts, p.blend_px)


class TaskComposite:
    description = ("the same sprites and plates placed by a synthesizer trained to make the detector fail under a "
                   "realism term to the exposed photos and a spread term to uniform placements (seed 000; "
                   "benchmark/composite_task.py)")
    needs: tuple[str, ...] = ()
    default = False          # opt in: --variants ...,task-composite
    Params = TaskParams

    def build(self, ctx: VariantContext, out: Path) -> None:
        from benchmark.api import task_composite
        o, p = ctx.opts, ctx.params("task-composite")
        src, plates, bounds = _inputs(ctx)
        task_composite(src, plates, o.real_json, o.images, o.split, bounds, o.total, out,
                       seed=render_seed(o.seed, "composite"), steps=p.steps, w_real=p.w_real,
                       w_spread=p.w_spread, cutouts=p.bg_cutouts,
                       blend_px=p.blend_px, category=o.category)
