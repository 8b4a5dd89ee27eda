"""Training regimes (`--regimes`): what a cell trains on and from which start, after Unity SynthDet's
few-shot protocol and the synthetic pre-training studies (pre-train on synthetic data, fine-tune on a few
real photos).

- `synthetic`: train on the variant's images from the detector's start weights (`--init`); best epoch by mAP
  on the real *exposed* images (they are not training data here);
- `real`: train on the real exposed images only (one cell per detector and seed, variant name `real`);
- `finetune`: start from the same detector's `synthetic` cell of the variant (same seed), train on the real
  exposed images;
- `mixed`: the variant's images plus the real exposed images in one run, the photos repeated so they make
  about `--mixed-share` of each epoch (repeats = round(share/(1-share) · n_variant / n_exposed), at least 1).
- `warm`: the variant's images from the synthetic cell (same detector, seed) of the set it grew from
  (`RunSpec.warm_from`: a top-down round's set from the round before); best epoch on the real exposed images;
  only for the variants `warm_from` names.
In `real`, `finetune` and `mixed` the exposed photos are training data, so they cannot also choose the epoch:
these regimes train a fixed schedule (`epochs`, or `--finetune-epochs` for finetune) and keep the last epoch.
Test images never influence training. Adding a regime = one class + one `REGIMES.register(...)` line. A regime
with `needs` starts from that regime's cell of the same variant, or of `source(variant, spec)` where it has one;
`applies(variant, spec)`, where it has one, limits its cells to some variants. A regime with options of its own
declares a `Params` dataclass (core/params.py: the flags `--<regime>-<field>`, RunSpec `regime_params`); the cell
sets the checked instance as its `params` before `train_set` (benchmark/cells.py make_regime).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.coco import CocoSet
from core.errors import UserError
from core.registry import Registry

from benchmark.detectors import TrainSet

REAL = "real"


class Synthetic:
    description = "the variant's images; best epoch on the real exposed images"
    needs = None                     # no earlier regime's cell needed
    per_variant = True

    def train_set(self, variant: str, cs: CocoSet, ctx, spec, prior: str | None) -> TrainSet:
        return TrainSet(variant, cs, None)


class Real:
    description = "the real exposed images only; fixed schedule, last epoch"
    needs = None
    per_variant = False              # one cell: the variant is `real`

    def train_set(self, variant: str, cs: CocoSet, ctx, spec, prior: str | None) -> TrainSet:
        return TrainSet(REAL, ctx.real, list(ctx.split.exposed), select_best=False)


@dataclass
class FinetuneParams:
    epochs: int | None = field(default=None, metadata={"help": "regime finetune: epochs (None: --epochs)"})

    def check(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise UserError(f"--finetune-epochs must be >= 1, got {self.epochs}")


@dataclass
class MixedParams:
    share: float = field(default=0.5, metadata={"help": "regime mixed: share of real photos per epoch"})

    def check(self) -> None:
        if not 0 < self.share < 1:
            raise UserError(f"--mixed-share must be between 0 and 1, got {self.share}")


class Finetune:
    description = "the variant's synthetic cell fine-tuned on the real exposed images; fixed schedule"
    needs = "synthetic"
    per_variant = True
    Params = FinetuneParams
    params = FinetuneParams()

    def train_set(self, variant: str, cs: CocoSet, ctx, spec, prior: str | None) -> TrainSet:
        return TrainSet(REAL, ctx.real, list(ctx.split.exposed), start=prior, select_best=False,
                        epochs=self.params.epochs or spec.epochs)


class Mixed:
    description = "the variant's images plus the real exposed images (oversampled to --mixed-share); fixed schedule"
    needs = None
    per_variant = True
    Params = MixedParams
    params = MixedParams()

    def train_set(self, variant: str, cs: CocoSet, ctx, spec, prior: str | None) -> TrainSet:
        n_syn, n_real = len(cs.images), max(1, len(ctx.split.exposed))
        share = self.params.share
        repeats = max(1, round(share / (1 - share) * n_syn / n_real))
        return TrainSet(f"{variant}+{REAL}", cs, None, extra=[(ctx.real, list(ctx.split.exposed), repeats)],
                        select_best=False)


class Warm:
    description = "the variant's images from the synthetic cell of the set it grew from (a top-down round's)"
    needs = "synthetic"
    per_variant = True

    @staticmethod
    def source(variant: str, spec) -> str:
        return spec.warm_from[variant]

    @staticmethod
    def applies(variant: str, spec) -> bool:
        return variant in (spec.warm_from or {})

    def train_set(self, variant: str, cs: CocoSet, ctx, spec, prior: str | None) -> TrainSet:
        return TrainSet(variant, cs, None, start=prior)


REGIMES: Registry[type] = Registry("regime", "--regimes")
REGIMES.register("synthetic", Synthetic)
REGIMES.register("real", Real)
REGIMES.register("finetune", Finetune)
REGIMES.register("warm", Warm)
REGIMES.register("mixed", Mixed)


def add_regime_args(ap) -> None:
    """Every registered regime's own flags (`--<regime>-<field>`: --mixed-share, --finetune-epochs)."""
    from core.params import add_registry_args
    add_registry_args(ap, REGIMES)


def regime_args(args) -> dict[str, dict]:
    """The regimes' options given on the command line: {regime: {field: value}}."""
    from core.params import registry_args
    return registry_args(args, REGIMES)
