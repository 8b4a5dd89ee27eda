"""KID of dataset dirs to the bottles' exposed and test photos (issue 24: what refinement does to the look).

    PYTHONPATH=. .venv/bin/python studies/bottles/refine_kid.py [--split SPLIT.json] NAME=DIR [NAME=DIR ...]

Prints a Markdown table: KID (x 100, ± its bootstrap se) to the exposed photos (the 30 of split.json, or those of
--split, e.g. split10.sh's 10) and to the test photos, and each set's ratio to the first set's KID to the test
photos. The test photos only score here: no refiner saw them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REAL = Path(__file__).resolve().parents[3] / "shared" / "realsets" / "bottles"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", type=Path, default=REAL / "split.json")
    ap.add_argument("sets", nargs="+", metavar="NAME=DIR")
    a = ap.parse_args(argv)
    from align.api import realism
    from core.coco import load_coco, load_split
    real = load_coco(REAL / "annotations_coco.json", REAL / "images")
    split = load_split(a.split, real)
    rows, first = [], None
    for arg in a.sets:
        name, _, d = arg.partition("=")
        cs = load_coco(Path(d) / "coco_annotations.json", Path(d))
        e, t = realism(real, list(split.exposed), cs), realism(real, list(split.test), cs)
        first = first if first is not None else t["kid"]
        rows.append(f"| {name} | {len(cs.images)} | {100 * e['kid']:.2f} ± {100 * e['se']:.2f} | "
                    f"{100 * t['kid']:.2f} ± {100 * t['se']:.2f} | {t['kid'] / first:.2f}x |")
    print(f"| set | images | KID x100 to exposed ({len(split.exposed)}) | KID x100 to test ({len(split.test)}) "
          "| test KID / first set's |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
