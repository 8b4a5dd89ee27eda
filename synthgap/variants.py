"""The variant-set extension point of `synthgap run`: the comparison sets rendered beside the aligned ones.

A variant is a class registered in `VARIANTS` (name -> class) with `description` (one line, shown in the
CLI's help and the run report), `needs` (variants it is built from, built first) and
`build(ctx: VariantContext, out: Path) -> None`, which makes the complete dataset dir `out` (DONE last) with
`ctx.render(what, n, out, seed)` or from the sets it needs (`ctx.sets / name`). A variant with options of its own
declares a `Params` dataclass (core/params.py): each field is the flag `--<variant>-<field>` of `synthgap run`
(and a --config key), kept in RunOptions.variant_params and in the run's key (RUN/run.json), and `build` reads it
as `ctx.params(name)`. Adding a variant = one class + one `VARIANTS.register(...)` line. The aligned sets are not variants: each selector of align.selectors
renders its own (named by the selector's `variant`: aligned-component, aligned-mix), and `aligned` is the
recommended selector's set (synthgap/recommend.py). A variant built from "the aligned plan" takes the recommended
selector's (`ctx.aligned_set()`; the run chooses it, from the exposed photos only, when the first such variant
is built).

Built-ins (the thesis' comparison sets, with the same image budget as the aligned sets):
- baseline: random sampling over the grid's whole ranges (every gridded range becomes the union of its grid
  values, other gridded values take the first one), floating placement, no control of object size;
- on-surface: the baseline with surface placement (same seed);
- filtered: the baseline minus every image that shows an object under `min_px` (longer bbox side);
- aligned-photo (opt-in): the recommended selector's plan rendered photo-like in the bottles ladder's best
  measured look (render.postfx.photo_like(full=True)): background plates cut from the exposed photos
  (render.plates, RUN/plates/; never a test photo), OIDN denoising, camera effects, catalogue clutter, material
  jitter, motion blur - the same geometry as `aligned`, so the two isolate what realism is worth;
- baseline-photo (opt-in): the baseline in the same look;
- refined, refined-task, baseline-refined, aligned-fda, aligned-colour (opt-in, all with `run --refine`): the aligned set
  (the baseline) with new pixels from the run's refiners (align/refine.py: learned, learned with the detector's term, FDA, colour transfer), fitted
  on the aligned set's renders and the exposed photos; the COCO and sidecar are the source's.
- random-composite, task-composite (opt-in; synthgap/composite_sets.py): the aligned set's objects pasted onto
  plates of the exposed photos, at uniform placements or a synthesizer's trained against the detector (seed 000).
Opt-in (`default = False`) are the sets that did not pay on the measured studies (PHOTO_EVIDENCE).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.api import Registry, UserError, read_json, write_subset_dir

from synthgap.seeds import render_seed

COCO_NAME = "coco_annotations.json"


def link_set(src: Path, dst: Path) -> None:
    """dst as a copy of the finished set src made of hard links (a plain copy across file systems), DONE last."""
    import shutil

    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, copy_function=link, ignore=shutil.ignore_patterns("DONE"))
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    link(src / "DONE", dst / "DONE")


@dataclass
class VariantContext:
    opts: Any                                # synthgap.options.RunOptions
    grid_mapping: dict                       # the grid YAML as loaded
    sets: Path                               # RUN/sets: every set is RUN/sets/<name>/
    render: Callable[..., Path]              # render(what, n, out, seed) -> dataset dir (resumable)
    aligned: Callable[[], tuple[str, str]] | None = None   # -> the recommended selector's (set, plan file)

    def params(self, name: str) -> Any:
        """The set `name`'s own options (its `Params`, from `--<name>-<field>`: opts.variant_params), checked."""
        from core.api import check_registry
        return check_registry(VARIANTS, getattr(self.opts, "variant_params", {}) or {}, [name])[name]

    def aligned_set(self) -> tuple[str, str]:
        """(set name, plan file) of the recommended selector (`aligned`); the first selector's without a chooser."""
        return self.aligned() if self.aligned is not None else next(iter(selector_sets(self.opts).values()))


def _is_range(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)


def baseline_mapping(grid_mapping: dict[str, Any]) -> dict[str, Any]:
    """The thesis' baseline from a grid: every gridded range becomes the union of its grid values, other
    gridded values take the first one, and placement is floating."""
    def walk(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"grid"}:
            vals = v["grid"]
            if vals and all(_is_range(x) for x in vals):
                return [min(x[0] for x in vals), max(x[1] for x in vals)]
            return vals[0]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v
    out = walk(copy.deepcopy(grid_mapping))
    out["placement"] = "floating"
    return out


def deep_update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _config(ctx: VariantContext, over: dict, label: str):
    from render.api import SceneConfig
    return SceneConfig.from_mapping(deep_update(baseline_mapping(ctx.grid_mapping), over), f"{ctx.opts.grid} ({label})")


class Baseline:
    description = "random sampling over the grid's whole ranges, floating placement"
    needs: tuple[str, ...] = ()

    def build(self, ctx: VariantContext, out: Path) -> None:
        ctx.render(_config(ctx, {}, "baseline"), ctx.opts.total, out, render_seed(ctx.opts.seed, "baseline"))


class OnSurface:
    description = "the baseline with surface placement (same seed)"
    needs: tuple[str, ...] = ()

    def build(self, ctx: VariantContext, out: Path) -> None:
        ctx.render(_config(ctx, {"placement": "surface"}, "on-surface"), ctx.opts.total, out,
                   render_seed(ctx.opts.seed, "baseline"))


class Filtered:
    description = "the baseline minus images showing an object under --min-px"
    needs: tuple[str, ...] = ("baseline",)

    def build(self, ctx: VariantContext, out: Path) -> None:
        filter_small_objects(ctx.sets / "baseline", out, min_px=ctx.opts.min_px)


def run_plates(ctx: VariantContext, resolution: tuple[int, int]) -> Path:
    """RUN/plates: background plates cut from the exposed photos once per run (render/plates.py), shared by the
    photo-like sets; box-free crops of 10 % of a photo are accepted where larger ones do not exist."""
    from render.api import make_plates
    o, plates = ctx.opts, ctx.sets.parent / "plates"
    if not (plates / "plates.json").exists():
        try:
            make_plates(str(o.real_json), str(o.images), str(o.split), str(plates), resolution, force=True)
        except UserError:   # photos filled by their objects: accept smaller box-free crops, else say so
            try:
                make_plates(str(o.real_json), str(o.images), str(o.split), str(plates), resolution, force=True,
                            min_frac=0.1)
            except UserError as e:
                raise UserError(f"{e}; the photo-like sets need background plates: leave them out with "
                                "--variants baseline,filtered,on-surface") from None
    return plates.resolve()


# Why the photo-like sets are opt-in (issue 21; studies/bottles/RESULTS.md, realism ladder): on the measured
# studies they did not pay.
PHOTO_EVIDENCE = ("opt-in as photo-like sets did not pay where measured (cups, issue 21: aligned-photo 0.206 vs aligned 0.209 "
                  "mAP50-95, baseline-photo 0.023 vs baseline 0.056; bottles ladder: plates + effects 1.08x, "
                  "interval holding 0; studies/bottles/RESULTS.md)")
PHOTO_LOOK = ("plates cut from the exposed photos behind the objects, denoised, camera effects, catalogue clutter, "
              "material jitter, motion blur (the bottles ladder's best look, photo-full)")


class AlignedPhoto:
    description = f"the aligned plan rendered photo-like: {PHOTO_LOOK}; {PHOTO_EVIDENCE}"
    needs: tuple[str, ...] = ()
    default = False          # opt in: --variants ...,aligned-photo

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import Plan
        from render.api import photo_like
        run_dir, o = ctx.sets.parent, ctx.opts
        plan = Plan.load(run_dir / ctx.aligned_set()[1])                              # the recommended selector's
        plates = run_plates(ctx, tuple(plan.entries[0].config.get("resolution", [320, 240])))
        for e in plan.entries:
            e.config = photo_like(e.config, plates, full=True)
        ctx.render(plan.to_yaml(run_dir / "plan-photo.yaml"), None, out, render_seed(o.seed, "aligned"))


class BaselinePhoto:
    description = "the baseline rendered photo-like, the same look as aligned-photo (opt-in: the same evidence)"
    needs: tuple[str, ...] = ()
    default = False          # opt in: --variants ...,baseline-photo

    def build(self, ctx: VariantContext, out: Path) -> None:
        from render.api import SceneConfig, photo_like
        base = baseline_mapping(ctx.grid_mapping)
        plates = run_plates(ctx, tuple(SceneConfig.from_mapping(base, f"{ctx.opts.grid} (baseline)").resolution))
        cfg = SceneConfig.from_mapping(photo_like(base, plates, full=True), f"{ctx.opts.grid} (baseline-photo)")
        ctx.render(cfg, ctx.opts.total, out, render_seed(ctx.opts.seed, "baseline"))


def real_exposed(opts, category: str | None = None) -> tuple:
    """(the real CocoSet, of `category` when given; its exposed image ids): what the feature-space sets are
    scored against."""
    from core.api import load_coco, load_split
    real = load_coco(opts.real_json, opts.images, category=category)
    return real, list(load_split(opts.split, real).exposed)


def _score_params(name: str) -> type:
    """The feature sets' own options: `--<name>-score`."""
    from core.api import flag_name

    @dataclass
    class Params:
        score: str = field(default="knn", metadata={"help": "how unlike the exposed photos an image (or object) is: "
                                                            "knn (mean distance to its nearest photos' features) or "
                                                            "kde (minus a Gaussian KDE's log density)"})

        def check(self) -> None:
            from align.api import FEATURE_SCORES
            if self.score not in FEATURE_SCORES:
                raise UserError(f"{flag_name(name, 'score')}: one of {', '.join(FEATURE_SCORES)}, got {self.score!r}")
    return Params


class FeatureFiltered:
    description = ("the baseline minus the images that look least like the exposed photos (a score on image "
                   "features, knn unless --feature-filtered-score; cut at the elbow; align/feature_filter.py)")
    needs: tuple[str, ...] = ("baseline",)
    default = False          # opt in: --variants ...,feature-filtered
    Params = _score_params("feature-filtered")      # --feature-filtered-score

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import filter_dataset
        filter_dataset(ctx.sets / "baseline", *real_exposed(ctx.opts), out,
                       score=ctx.params("feature-filtered").score)


class FeatureFilteredAligned:
    description = ("the aligned set minus the images that look least like the exposed photos (a score on image "
                   "features, knn unless --aligned-feature-filtered-score; cut at the elbow; align/feature_filter.py)")
    needs: tuple[str, ...] = ()          # the aligned sets are rendered before every comparison set
    default = False          # opt in: --variants ...,aligned-feature-filtered
    Params = _score_params("aligned-feature-filtered")      # --aligned-feature-filtered-score

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import filter_dataset
        filter_dataset(ctx.sets / ctx.aligned_set()[0], *real_exposed(ctx.opts), out,
                       score=ctx.params("aligned-feature-filtered").score)


class FeatureBlackout:
    description = ("the baseline with the objects that look least like the exposed photos' (a score on box-crop "
                   "features, knn unless --feature-blackout-score; cut at the elbow) painted black and their boxes "
                   "dropped; every image kept")
    needs: tuple[str, ...] = ("baseline",)
    default = False          # opt in: --variants ...,feature-blackout
    Params = _score_params("feature-blackout")      # --feature-blackout-score

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import blackout_objects
        blackout_objects(ctx.sets / "baseline", *real_exposed(ctx.opts), out,
                         score=ctx.params("feature-blackout").score)


class ShapeAligned:
    description = ("the aligned plan without the meshes whose object crops look least like the photos' (scored "
                   "on the baseline's crops, elbow cut; align/feature_filter.py shape_scores; RUN/shapes.json); "
                   "the aligned set itself (linked) when no mesh stands out")
    needs: tuple[str, ...] = ("baseline",)
    default = False          # opt in: --variants ...,shape-aligned

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import Plan, shape_scores
        from core.api import atomic_write_json, load_coco
        o, run_dir = ctx.opts, ctx.sets.parent
        base = ctx.sets / "baseline"
        rows = shape_scores(load_coco(base, category=o.category), read_json(base / "sidecar.json", "sidecar"),
                            *real_exposed(o, o.category))
        drop = [r["asset_id"] for r in rows if r["drop"]]
        atomic_write_json(run_dir / "shapes.json", {"scored_on": "sets/baseline", "shapes": rows,
                                                     "exclude_assets": drop})
        aligned, plan_file = ctx.aligned_set()                                       # the recommended selector's
        if not drop:             # no mesh stands out: the same plan and seed would render the aligned set again
            link_set(ctx.sets / aligned, out)
            return
        plan = Plan.load(run_dir / plan_file)
        for e in plan.entries:
            e.config = {**e.config, "exclude_assets": drop}
        ctx.render(plan.to_yaml(run_dir / "plan-shapes.yaml"), None, out, render_seed(o.seed, "aligned"))


def run_refiner(ctx: VariantContext, method: str) -> Path:
    """RUN/refiner-<method>: fitted once per run on the recommended aligned set's renders and the exposed photos
    (align/refine.py; refitted when those change), shared by the refined sets."""
    from align.api import fit_refiner, refine_settings
    o = ctx.opts
    aligned = ctx.sets / ctx.aligned_set()[0]
    return fit_refiner(method, [aligned], o.real_json, o.images, o.split, ctx.sets.parent / f"refiner-{method}",
                       refine_settings(o.refine_steps, o.refine_crop, o.refine_batch, o.seed, method=method),
                       o.category,
                       device="auto", force=True)


class _Refined:
    """A set refined from another (`source`: the recommended aligned set when None) by the run's `method`
    refiner; the COCO and sidecar are the source's, byte for byte."""
    method, source = "learned", None
    needs: tuple[str, ...] = ()
    default = False          # opt in: --refine, or --variants ...,<name>
    with_refine = True       # False: only by name (--variants ...,<name>), not with --refine

    def build(self, ctx: VariantContext, out: Path) -> None:
        from align.api import refine_dir
        src = ctx.sets / (self.source or ctx.aligned_set()[0])
        refine_dir(run_refiner(ctx, self.method), src, out)


REFINE_EVIDENCE = ("opt-in: on bottles (seeds 0-2) no refined set separated from the aligned set (learned 0.99x, "
                   "aligned-fda 1.01x, colour 0.99x, intervals holding 0; studies/bottles/RESULTS.md, Refinement)")


class Refined(_Refined):
    description = ("the aligned set refined toward the exposed photos by the learned refiner (align/refine_net.py: "
                   f"bounded residual, PatchGAN, MMD to the photos' features, masked content loss); {REFINE_EVIDENCE}")


class RefinedTask(_Refined):
    description = ("the aligned set refined by the learned refiner trained with the detector's term (DetectorGAN's "
                   "unrolled objective by finite differences; benchmark/refine_task.py)")
    method = "learned-task"

    def build(self, ctx: VariantContext, out: Path) -> None:
        import benchmark.api  # noqa: F401  (registers learned-task)
        super().build(ctx, out)


class BaselineRefined(_Refined):
    description = "the baseline refined by the same learned refiner (trained on the aligned set's renders)"
    source = "baseline"
    needs = ("baseline",)


class AlignedFda(_Refined):
    description = "the aligned set with Fourier domain adaptation to the exposed photos (low-frequency amplitude)"
    method = "fda"


class AlignedColour(_Refined):
    description = "the aligned set colour-transferred to the exposed photos' pooled statistics (Reinhard)"
    method = "colour"


class AlignedCut(_Refined):
    description = ("the aligned set translated by CUT (contrastive unpaired translation, align/refine_cut.py); by name "
                   "only, not with --refine: unbounded, and meant for a GPU (1500 steps at 128 px: 19 min on 2 cores)")
    method = "cut"
    with_refine = False



VARIANTS: Registry[type] = Registry("variant set", "--variants")
VARIANTS.register("baseline", Baseline)
VARIANTS.register("filtered", Filtered)
VARIANTS.register("on-surface", OnSurface)
VARIANTS.register("aligned-photo", AlignedPhoto)
VARIANTS.register("baseline-photo", BaselinePhoto)
VARIANTS.register("feature-filtered", FeatureFiltered)
VARIANTS.register("aligned-feature-filtered", FeatureFilteredAligned)
VARIANTS.register("shape-aligned", ShapeAligned)
VARIANTS.register("feature-blackout", FeatureBlackout)
VARIANTS.register("refined", Refined)
VARIANTS.register("refined-task", RefinedTask)
VARIANTS.register("baseline-refined", BaselineRefined)
VARIANTS.register("aligned-fda", AlignedFda)
VARIANTS.register("aligned-colour", AlignedColour)
VARIANTS.register("aligned-cut", AlignedCut)
VARIANTS.register("random-composite", "synthgap.composite_sets:RandomComposite")
VARIANTS.register("task-composite", "synthgap.composite_sets:TaskComposite")


def refined_names() -> list[str]:
    """The refined sets (every registered _Refined variant): what `run --refine` adds."""
    return [n for n in VARIANTS.names() if isinstance(VARIANTS.get(n), type) and issubclass(VARIANTS.get(n), _Refined)
            and VARIANTS.get(n).with_refine]


def comparison_names(opts: Any) -> list[str]:
    """The comparison sets of a run, with what they need, in registry order."""
    want = list(opts.variants) if opts.variants is not None else [
        n for n in VARIANTS.names() if getattr(VARIANTS.get(n), "default", True)]
    need = set(want)
    for name in want:
        need.update(VARIANTS.get(name).needs)
    return [n for n in VARIANTS.names() if n in need]


def selector_sets(opts: Any) -> dict[str, tuple[str, str]]:
    """selector -> (its set's name, its plan file) for the run's selectors."""
    from align.api import SELECTORS
    out = {}
    for m in opts.selectors:
        cls = SELECTORS.get(m)
        out[m] = (getattr(cls, "variant", f"aligned-{m}"), getattr(cls, "plan_file", f"plan-{m}.yaml"))
        if out[m][0] == "aligned":
            raise UserError(f"--selectors: {m}: the set name 'aligned' is kept for the recommended set; name its "
                            "set otherwise (the selector's `variant`)")
    return out


def set_names(opts: Any) -> list[str]:
    """Every set a run renders: the comparison sets, then one aligned set per selector."""
    return [*comparison_names(opts), *(v for v, _ in selector_sets(opts).values())]


def build_comparison_sets(ctx: VariantContext, log: Callable[[str], None]) -> None:
    for name in comparison_names(ctx.opts):
        if not (ctx.sets / name / "DONE").exists():
            variant = VARIANTS.get(name)()
            log(f"{name}: {variant.description}")
            variant.build(ctx, ctx.sets / name)


@dataclass
class FilterReport:
    images_in: int
    images_out: int
    annotations_in: int
    annotations_out: int
    dropped_images: int


def filter_small_objects(src: str | os.PathLike, dst: str | os.PathLike, min_px: float = 50.0) -> FilterReport:
    """The thesis' *filtered* variant: no object smaller than `min_px` remains, in images or annotations.

    An object is small when the longer side of its bbox is under `min_px` pixels. Its annotation is removed,
    and so is every image that shows a small object (keeping the image would leave an unlabelled object in
    it, teaching the detector that it is background). Images are hard-linked (copied across devices); the
    sidecar is filtered the same way. `dst` gets a DONE marker last; an existing complete `dst` is kept.
    """
    src, dst = Path(src), Path(dst)
    if (dst / "DONE").exists():
        coco = read_json(dst / COCO_NAME, "COCO")
        n = len(coco["images"])
        return FilterReport(n, n, len(coco["annotations"]), len(coco["annotations"]), 0)
    if not (src / "DONE").exists():
        raise UserError(f"{src}: not a complete dataset dir (no DONE marker)")
    coco = read_json(src / COCO_NAME, "COCO")
    small_imgs = set()
    for a in coco["annotations"]:
        if "bbox" not in a or len(a["bbox"]) != 4:
            raise UserError(f"{src / COCO_NAME}: annotation {a.get('id')}: field 'bbox' missing or malformed")
        if max(a["bbox"][2], a["bbox"][3]) < min_px:
            small_imgs.add(a["image_id"])
    images = [im for im in coco["images"] if im["id"] not in small_imgs]
    anns = write_subset_dir(src, dst, {im["id"] for im in images}, {
        "filter": {"rule": "drop images showing an object whose bbox longer side < min_px", "min_px": min_px}})
    return FilterReport(len(coco["images"]), len(images), len(coco["annotations"]), len(anns),
                        len(coco["images"]) - len(images))
