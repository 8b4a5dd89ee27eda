"""`synthgap run`: its options (a typed record), the shared command-line flags of `run` and `demo`, and the
entry point. Every option is checked here, before the run folder is touched."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from core.api import UserError, parse_seeds


@dataclass
class RunOptions:
    real_json: Path
    images: Path
    split: Path
    grid: Path
    out: Path
    category: str | None = None
    total: int = 200
    probe_n: int = 12
    probe_ci: float = 0.15                 # widest 95 % interval of a plan's predicted D_B before probes grow
    probe_max: int | None = None           # most probe images per chosen config (None: 4 x probe_n)
    metadata: list[str] | None = None      # None: area_frac, cy (+ depth when the target has it, + predicted)
    predict: list[str] | None = None       # render-only metadata to predict for the real boxes from the probes
    mode: str = "1d"
    kmax: int = 5
    workers: int = 2
    backend: str = "local"
    ray_address: str | None = None
    bench_backend: str = "local"             # the benchmark's cells: one after another (local) or as Ray tasks
    render_device: str = "auto"              # Cycles device of every render (render/devices.py)
    detectors: list[str] = field(default_factory=lambda: ["frcnn"])   # yolo when --yolo-weights (apply_args)
    epochs: int = 30
    seeds: list[int] = field(default_factory=lambda: [0])
    imgsz: int = 320
    min_px: float = 50.0
    seed: int = 0
    benchmark: bool = True
    real_baseline: bool = True
    selectors: list[str] = field(default_factory=lambda: ["component", "mixture"])
    variants: list[str] | None = None        # comparison sets (synthgap.variants.VARIANTS); None: all
    bench_variants: list[str] | None = None  # None: every set
    regimes: list[str] = field(default_factory=lambda: ["synthetic", "real"])   # benchmark.regimes.REGIMES
    init: str = "auto"                       # Faster R-CNN start weights
    detector_params: dict[str, dict] = field(default_factory=dict)   # the detectors' own options set
                                             # ({detector: {field: value}}; --yolo-weights is yolo's `weights`)
    regime_params: dict[str, dict] = field(default_factory=dict)     # the regimes' own options set
                                             # (--mixed-share is mixed's `share`, --finetune-epochs finetune's `epochs`)
    variant_params: dict[str, dict] = field(default_factory=dict)    # the comparison sets' own options set
                                             # (--feature-filtered-score is feature-filtered's `score`)
    selector_params: dict[str, dict] = field(default_factory=dict)   # the selectors' own options set
                                             # (--mixture-bandwidth-min is mixture's `bandwidth_min`)
    bootstrap: int = 300                     # draws for the reports' intervals
    zoo: Path | None = None                  # a zoo (synthgap zoo): --metadata auto, scores in the report
    refine_steps: int = 1500                 # the learned refiner's training steps (align/refine_net.py)
    refine_crop: int | None = None           # None: the refiner's own (64 px; cut 128 px)
    refine_batch: int = 8
    accept_changed: bool = False             # a real COCO / split / photo edited in place becomes the new input
    real_source: Path | None = None          # --real as given when it was YOLO/VOC labels (real_json: their COCO)
    rounds: int = 0                          # top-down rounds after round 0 (synthgap/rounds.py)
    increment: int | None = None             # images a round adds (None: total // 2)
    round_gain: float = 0.01                 # rounds stop when the exposed mAP gains less than this
    fail_score: float = 0.5                  # a real box found with a lower score counts as failing
    lookahead: int = 0                       # SGD steps of the task-aware lookahead per config (0: off)
    lookahead_slack: float = 0.02            # how much further (mean D_B) it may take the grown set
    plan_only: bool = False                  # --rounds: stop at the next round's plan (synthgap/rounds.py)

    def selector(self, name: str, real=None):
        """The selector `name` made with the run's seed, `real` (the real table) and its own options checked."""
        from align.api import SELECTORS
        from core.api import check_registry
        own = check_registry(SELECTORS, self.selector_params, [name]).get(name)
        return SELECTORS.get(name)(seed=self.seed, real=real, **({} if own is None else {"params": own}))

    def bench_spec(self, variants: list[tuple[str, str]], out: Path, metadata: list[str], **over):
        """The benchmark's RunSpec of these options: the one copy of RunOptions into the trainer's record (the
        run and the zoo differ only in what they pass in `over`, e.g. the zoo's regimes=["synthetic"])."""
        from benchmark.api import RunSpec
        spec = dict(variants=variants, real_json=str(self.real_json), images_dir=str(self.images),
                    split=str(self.split), out=str(out), detectors=list(self.detectors), epochs=self.epochs,
                    seeds=list(self.seeds), imgsz=self.imgsz, category=self.category,
                    real_baseline=self.real_baseline, metadata=list(metadata), regimes=list(self.regimes),
                    init=self.init, detector_params=dict(self.detector_params),
                    regime_params=dict(self.regime_params), mean_metadata=list(metadata),
                    real_table=str(self.real_table), backend=self.bench_backend, ray_address=self.ray_address,
                    workers=self.workers)
        return RunSpec(**{**spec, **over})

    @property
    def real_table(self) -> Path:
        """RUN's table of the real exposed boxes that the fit, distances and reports use: measured
        (real_metadata.json), or with --predict the one holding the predicted columns (real_metadata_pred.json)."""
        return self.out / ("real_metadata_pred.json" if self.predict else "real_metadata.json")

    @property
    def increment_n(self) -> int:
        """Images one top-down round adds: --increment, else half of --total."""
        return self.increment if self.increment is not None else max(1, self.total // 2)

    @property
    def probe_cap(self) -> int:
        """Most probe images per chosen config: --probe-max, else 4 x --probe-n."""
        return self.probe_max if self.probe_max is not None else 4 * self.probe_n


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def parse_with_config(ap: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`--config FILE.yaml`: a mapping of the command's options by flag name (`total: 150`, `regimes: [synthetic,
    real]`, `no-benchmark: true`, `real: photos/data.yaml`), read as if those flags came first on the command
    line, so flags given there win and every value passes the same checks. An unknown key, a list for a flag
    that takes one value, or a non-boolean for a switch is one line naming the file and the key."""
    from core.api import load_yaml
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    if not known.config:
        return ap.parse_args(argv)
    cfg = load_yaml(Path(known.config), "options YAML")
    if not isinstance(cfg, dict):
        raise UserError(f"{known.config}: key '<top>': options must be a mapping of flag names to values")
    actions = {a.dest: a for a in ap._actions if a.option_strings}
    tokens: list[str] = []
    for key, value in cfg.items():
        act = actions.get(str(key).replace("-", "_"))
        if act is None or act.dest in ("config", "help"):
            raise UserError(f"{known.config}: key '{key}': not an option of {ap.prog} (see {ap.prog} --help)")
        flag = max(act.option_strings, key=len)
        if act.nargs == 0:                               # a switch (store_true, or a Params bool)
            if not isinstance(value, bool):
                raise UserError(f"{known.config}: key '{key}': a switch takes true or false, got {value!r}")
            tokens += [flag] if value else []
        elif isinstance(value, list):
            tokens += [flag, ",".join(str(v) for v in value)]
        elif isinstance(value, dict) or value is None:
            raise UserError(f"{known.config}: key '{key}': a value or a list, got {value!r}")
        else:
            tokens += [flag, str(value)]
    return ap.parse_args(tokens + list(argv))


def add_real_args(ap: argparse.ArgumentParser) -> None:
    """--real and --images, the real photos' labels and folder (`run` and `zoo`)."""
    ap.add_argument("--real", required=True, help="real labels: a COCO json, a YOLO data.yaml (or "
                    "folder) or a Pascal VOC folder (core/real_source.py)")
    ap.add_argument("--images", default=None, help="folder of the real images (default: the COCO "
                    "json's folder; YOLO/VOC labels name their own)")


def add_common_args(ap: argparse.ArgumentParser, d: RunOptions, detectors_default: str | None = None) -> None:
    """The flags of `run` and `demo`; their help states the command's defaults `d` (`detectors_default`: the
    --detectors default in words, where it is not d.detectors alone)."""
    from align.api import SELECTORS
    from benchmark.api import DETECTORS
    from synthgap.variants import VARIANTS
    a = ap.add_argument
    _config_arg(ap)
    a("--total", type=int, default=None, help=f"images per rendered set (default: {d.total})")
    a("--probe-n", type=int, default=None, help=f"probe images per grid config (default: {d.probe_n})")
    a("--probe-ci", type=float, default=None, help=f"grow the chosen configs' probes while a plan's predicted D_B "
      f"has a 95 %% interval wider than this on an aligned metadata (default: {d.probe_ci})")
    a("--probe-max", type=int, default=None, help="most probe images per chosen config when growing (default: 4 x "
      "--probe-n; --probe-n itself: never grow, only warn)")
    a("--metadata", default=None, help="comma list of metadata to align (default area_frac,cy + depth when the "
      "target has it; `auto` with --zoo: the metadata a zoo ranked as mattering)")
    a("--predict", default=None, help="comma list of render-only metadata (depth, visible_px, occlusion_ad2, "
      "bg_similarity, ...) to learn from the probes' box crops and predict for the real boxes; the fit aligns on "
      "the predictable ones (cross-validated R² >= 0.3; RUN/predict.json, the report's R² table)")
    a("--mode", choices=("1d", "joint"), default=None, help=f"GMM per metadata or joint (default: {d.mode})")
    a("--kmax", type=int, default=None, help=f"most GMM components tried (default: {d.kmax})")
    a("--workers", type=int, default=2, help="render worker processes / Ray tasks at once (with --bench-backend ray "
      "also the benchmark cells at once) (default: %(default)s)")
    a("--backend", choices=("local", "ray"), default="local", help="render backend (default: %(default)s)")
    a("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance)")
    a("--bench-backend", choices=("local", "ray"), default="local", help="benchmark backend: local trains one cell "
      "after another; ray runs every cell as a Ray task, --workers at once, on --ray-address (default: %(default)s)")
    a("--render-device", default="auto", choices=("auto", "cpu", "cuda", "optix"), help="Cycles device of the "
      "renders (default auto: OptiX, else CUDA, else the CPU; the sidecars record it)")
    a("--detectors", default=None, help=f"comma list of {', '.join(DETECTORS.names())} (default: "
      f"{detectors_default or ','.join(d.detectors)}; yolo when --yolo-weights is given: YOLO from scratch learns "
      "next to nothing from "
      "a few photos on a CPU budget, Faster R-CNN starts from ImageNet offline, COCO weights when cached)")
    a("--epochs", type=int, default=None, help=f"training epochs, most (early stopping on the exposed split; default: {d.epochs})")
    a("--seeds", default=None, help=f"training seeds: a count (2 = 0,1) or a list 0,5 (default: {d.seeds})")
    a("--imgsz", type=int, default=None, help=f"detector input size, long side in px (default: {d.imgsz})")
    a("--min-px", type=float, default=None, help=f"filtered set: drop images with objects under this many px (default: {d.min_px:g})")
    a("--seed", type=int, default=None, help=f"master seed of the renders and the fit (default: {d.seed})")
    a("--selectors", default=None, help="comma list of selectors, each renders its own aligned set: " + "; ".join(
        f"{n}: {SELECTORS.get(n).description}" for n in SELECTORS.names()))
    a("--variants", default=None, help="comma list of comparison sets (default all but the opt-in ones): " +
      "; ".join(f"{n}{'' if getattr(VARIANTS.get(n), 'default', True) else ' (opt-in)'}: "
                f"{VARIANTS.get(n).description}" for n in VARIANTS.names()))
    from core.api import add_registry_args
    add_registry_args(ap, SELECTORS)
    add_registry_args(ap, VARIANTS)
    _refine_args(ap, d)
    _round_args(ap, d)
    a("--bench-variants", default=None, help="comma list of the sets to train detectors on (default: all; "
      "`aligned` = the recommended set)")
    from benchmark.api import REGIMES
    a("--regimes", default=None, help=f"training regimes (default: {','.join(d.regimes)}): " + "; ".join(
        f"{n}: {REGIMES.get(n).description}" for n in REGIMES.names()))
    a("--init", default=None, help=f"Faster R-CNN start weights: auto, imagenet, coco, scratch or a checkpoint "
      f"(default: {d.init}; auto = COCO weights when in the torch hub cache, else the ImageNet backbone)")
    a("--bootstrap", type=int, default=None, help=f"bootstrap draws for intervals (default: {d.bootstrap})")
    _switch_args(ap)
    from benchmark.api import add_detector_args, add_regime_args
    add_detector_args(ap)
    add_regime_args(ap)


def _switch_args(ap: argparse.ArgumentParser) -> None:
    a = ap.add_argument
    a("--no-benchmark", action="store_true", help="stop after the distances")
    a("--no-real-baseline", action="store_true", help="no detector trained on the real exposed set")
    a("--accept-changed-inputs", action="store_true", help="the real COCO, split or photos were fixed in place "
      "since this run folder was started: take them as the new inputs (what was computed from the old ones moves "
      "to RUN/superseded/<time>/; probe renders are kept)")


def _config_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", default=None, help="a YAML of these options by flag name (total: 150, regimes: "
                    "[synthetic, real], ...; parse_with_config); flags on the command line win")


def _refine_args(ap: argparse.ArgumentParser, d: RunOptions) -> None:
    a = ap.add_argument
    a("--refine", action="store_true", help="add the refined sets (refined, refined-task, baseline-refined, "
      "aligned-fda, aligned-colour): the aligned set and the baseline with new pixels from refiners learned from "
      "the aligned renders and the exposed photos (synthgap refine)")
    a("--refine-steps", type=int, default=None, help=f"the learned refiner's training steps (default: {d.refine_steps})")
    a("--refine-crop", type=int, default=None, help="the learned refiners' training crop, px (default: the "
      "refiner's own: 64, cut 128)")


def _round_args(ap: argparse.ArgumentParser, d: RunOptions) -> None:
    from synthgap.lookahead import FALLBACK_STEPS
    a = ap.add_argument
    a("--rounds", type=int, default=None, help="top-down rounds after the recommended set is trained: find the "
      "exposed photos' boxes its detector misses, render --increment images like them, train the grown set and "
      f"an equal-size one-shot aligned set, repeat (synthgap/rounds.py; default: {d.rounds})")
    a("--increment", type=int, default=None, help="images a round adds (default: half of --total)")
    a("--round-gain", type=float, default=None, help="stop the rounds when the exposed photos' mAP gains less "
      f"(default: {d.round_gain})")
    a("--fail-score", type=float, default=None, help="a real box found with a lower score counts as failing "
      f"(default: {d.fail_score})")
    a("--lookahead", type=int, default=None, help="task-aware rounds: STEPS SGD steps of the round's Faster R-CNN "
      "on each probed config's renders, the drop of its loss on half of the exposed photos as the config's value, "
      "the increment re-weighted toward valued configs (Hedge) while the grown set stays aligned "
      f"(synthgap/lookahead.py; default: {d.lookahead}: off, except in a round whose failing boxes differ from the "
      f"found ones in nothing, which falls back to it with {FALLBACK_STEPS} steps)")
    a("--plan-only", action="store_true", help="the rounds' refine-plan stage alone: the next unfinished round's "
      "failure table and plan (rounds/r<k>/), nothing rendered or trained; rerun without it to go on")
    a("--lookahead-slack", type=float, default=None, help="how much further from the exposed boxes (mean D_B) the "
      f"re-weighting may take the grown set than the failure plan (default: {d.lookahead_slack})")


def apply_args(opts: RunOptions, args: argparse.Namespace) -> RunOptions:
    """Options given on the command line override `opts` (the command's defaults); every value is checked."""
    from dataclasses import replace

    from align.api import SELECTORS
    from benchmark.api import DETECTORS
    from synthgap.variants import VARIANTS
    given = {k: getattr(args, k) for k in ("total", "probe_n", "probe_ci", "probe_max", "mode", "kmax", "epochs", "imgsz", "min_px", "seed",
                                           "init", "bootstrap",
                                           "refine_steps", "refine_crop", "rounds", "increment", "round_gain",
                                           "fail_score", "lookahead", "lookahead_slack")
             if getattr(args, k) is not None}
    opts = replace(opts, **given, workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                   bench_backend=args.bench_backend,
                   render_device=args.render_device,
                   benchmark=not args.no_benchmark, real_baseline=not args.no_real_baseline,
                   accept_changed=args.accept_changed_inputs, plan_only=getattr(args, "plan_only", False))
    if args.metadata:
        opts.metadata = _list(args.metadata)
    if args.predict:
        opts.predict = check_predict(_list(args.predict))
    from benchmark.api import default_detectors, detector_args, regime_args
    from core.api import merge_params
    opts.detector_params = merge_params(opts.detector_params, detector_args(args))
    opts.regime_params = merge_params(opts.regime_params, regime_args(args))
    from core.api import registry_args
    opts.variant_params = merge_params(opts.variant_params, registry_args(args, VARIANTS))
    opts.selector_params = merge_params(opts.selector_params, registry_args(args, SELECTORS))
    if args.detectors:
        opts.detectors = DETECTORS.check(_list(args.detectors))
    elif default_detectors(opts.detector_params) != ["frcnn"]:   # YOLO weights given: YOLO learns from them
        opts.detectors = default_detectors(opts.detector_params)
    if args.seeds:
        opts.seeds = parse_seeds(args.seeds)
    if args.regimes:
        from benchmark.api import REGIMES
        opts.regimes = REGIMES.check(_list(args.regimes))
    if args.selectors:
        opts.selectors = SELECTORS.check(_list(args.selectors))
    if args.variants:
        opts.variants = VARIANTS.check(_list(args.variants))
    if getattr(args, "refine", False):
        from synthgap.variants import comparison_names, refined_names
        have = comparison_names(opts)
        opts.variants = [*have, *(v for v in refined_names() if v not in have)]
    if args.bench_variants:
        opts.bench_variants = _list(args.bench_variants)
    check_options(opts)
    return opts


def _check_variant_params(opts: RunOptions) -> None:
    """Each comparison set's own options built and checked; options for a set the run does not render refused."""
    from core.api import check_registry, flag_name
    from synthgap.variants import VARIANTS, comparison_names
    sets = comparison_names(opts)
    for name, values in opts.variant_params.items():
        if values and name not in sets:
            raise UserError(f"{flag_name(name, sorted(values)[0])}: the set {name} is not rendered by this run (add "
                            f"it to --variants)")
    check_registry(VARIANTS, opts.variant_params, sets)
    from align.api import SELECTORS
    for name, values in opts.selector_params.items():
        if values and name not in opts.selectors:
            raise UserError(f"{flag_name(name, sorted(values)[0])}: the selector {name} does not run in this run "
                            f"(add it to --selectors)")
    check_registry(SELECTORS, opts.selector_params, opts.selectors)


def check_predict(names: list[str]) -> list[str]:
    """--predict: at least one name, each a numeric metadata (those the renderer's sidecar knows are the useful
    ones: align.predict_metadata.SIDECAR_TARGETS)."""
    from align.api import NUMERIC_METADATA, check_names
    if not names:
        raise UserError(f"--predict: unknown {names} (choose from {', '.join(NUMERIC_METADATA)})")
    return check_names(names, "--predict")


def check_options(opts: RunOptions) -> None:
    from synthgap.variants import set_names
    if opts.total < 1 or opts.probe_n < 1:
        raise UserError("--total and --probe-n must be >= 1")
    if opts.refine_steps < 1 or (opts.refine_crop is not None and opts.refine_crop < 16):
        raise UserError(f"--refine-steps must be >= 1 and --refine-crop >= 16, got {opts.refine_steps} and "
                        f"{opts.refine_crop}")
    if opts.probe_cap < opts.probe_n or not opts.probe_ci > 0:
        raise UserError(f"--probe-max must be >= --probe-n ({opts.probe_n}) and --probe-ci > 0, got "
                        f"{opts.probe_cap} and {opts.probe_ci}")
    from benchmark.api import check_training
    if opts.epochs < 1 or opts.imgsz < 32 or opts.kmax < 1 or opts.workers < 1 or opts.bootstrap < 10:
        raise UserError("--epochs, --kmax and --workers must be >= 1, --imgsz >= 32 and --bootstrap >= 10")
    check_training(opts.init, opts.detector_params, opts.detectors, opts.regime_params, opts.regimes)
    _check_variant_params(opts)
    from render.api import check_device
    check_device(opts.render_device)
    _check_rounds(opts)
    bad = [v for v in opts.bench_variants or [] if v not in set_names(opts) and v != "aligned"]
    if bad:
        raise UserError(f"--bench-variants: unknown {bad} (choose from {', '.join(set_names(opts))}, aligned)")


def _check_rounds(opts: RunOptions) -> None:
    if opts.rounds < 0 or opts.increment_n < 1 or not 0 < opts.fail_score < 1:
        raise UserError(f"--rounds must be >= 0, --increment >= 1 and --fail-score in (0, 1), got {opts.rounds}, "
                        f"{opts.increment_n} and {opts.fail_score}")
    if opts.lookahead < 0 or opts.lookahead_slack < 0:
        raise UserError(f"--lookahead and --lookahead-slack must be >= 0, got {opts.lookahead} and "
                        f"{opts.lookahead_slack}")
    from synthgap.lookahead import DETECTOR
    if opts.lookahead and opts.detectors[0] != DETECTOR:
        raise UserError(f"--lookahead: needs {DETECTOR} as the first detector (its losses are the values), got "
                        f"{opts.detectors[0]}")
    if opts.plan_only and not opts.rounds:
        raise UserError("--plan-only: plans the next top-down round: give --rounds N")
    if opts.rounds and not opts.benchmark:
        raise UserError("--rounds: needs the benchmark (a round starts from the trained recommended set's "
                        "detector): drop --no-benchmark")


def apply_zoo(opts: RunOptions, zoo: str | None) -> None:
    """--zoo: checked and kept for the report; `--metadata auto` becomes the metadata the zoo ranked."""
    from align.api import NUMERIC_METADATA, auto_metadata, load_zoo
    auto = opts.metadata == ["auto"]
    if auto and not zoo:
        raise UserError("--metadata auto: needs --zoo (a finished `synthgap zoo`) to rank the metadata")
    if zoo:
        z = load_zoo(zoo)
        opts.zoo = Path(zoo)
        if auto:
            opts.metadata = auto_metadata(z, str(zoo), NUMERIC_METADATA)
