"""`synthgap <command> ...`: a thin dispatcher; each command lives in its own package and imports lazily."""
from __future__ import annotations

import importlib
import sys

from core.api import run_cli

# command -> (module, function, one-line help). Functions take argv (list[str]) and return an exit code.
COMMANDS = {
    "render": ("render.cli", "main", "render scenes from a SceneConfig or a plan into a COCO dataset dir"),
    "assets": ("render.assets_cli", "main", "import / check the meshes and backgrounds in assets_manifest.yaml"),
    "align": ("align.cli", "main", "metadata, distances (compare), GMM fit and config selection"),
    "benchmark": ("benchmark.cli", "main", "train detectors on dataset variants, score on real data, report"),
    "export": ("benchmark.cli", "export_main", "export a dataset dir to Ultralytics' YOLO layout (data.yaml)"),
    "import": ("core.label_import", "main", "real labels in YOLO or Pascal VOC form -> the COCO file synthgap reads"),
    "split": ("core.split", "main", "split.json (exposed / test) from a COCO file by a reproducible rule"),
    "refine": ("synthgap.refine_cli", "main", "learn a sim-to-real refiner from renders + exposed photos; refine dataset dirs"),
    "plates": ("render.plates", "main", "background plates for photo backgrounds from the real exposed photos"),
    "run": ("synthgap.loop", "run_main", "the closed loop: fit -> probe -> select -> render -> benchmark"),
    "zoo": ("synthgap.zoo", "zoo_main", "a variant zoo: many sets, distances and trained mAP; rank sets without training"),
    "demo": ("synthgap.demo", "demo_main", "offline end-to-end demo on embedded defaults"),
}


def usage() -> str:
    lines = ["usage: synthgap <command> [args...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "`synthgap <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from synthgap import __version__
        print(__version__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"synthgap: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[cmd]
    return run_cli(f"synthgap {cmd}", lambda a: getattr(importlib.import_module(module), func)(a), rest)


if __name__ == "__main__":
    sys.exit(main())
