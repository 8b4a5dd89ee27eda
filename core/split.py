"""`synthgap split`: split.json from a COCO file by a stated, reproducible rule (docs/design.md §3).

Rule. Images are ordered by the SHA-1 of their `file_name` (with `--seed S`: of "S:" + file_name), so the split
depends on the names only, not on the file's order or ids. The *pool* is the images holding at least one
annotation of `--category` (of any category without one); the first `--exposed` images of the pool in that
order are *exposed* (a count, or a fraction of the pool when below 1), every other image is *test*. With
`--stratify` the pool is grouped by the set of categories an image holds and each group gives its share of the
exposed count (largest remainder, ties to the larger group), first in hash order within the group.
The bottles set's split is this rule: `synthgap split annotations_coco.json --category bottle --exposed 30`.
Errors: an empty exposed or test split, a category that is not in the file, an --out that exists (without
--force). The file records the rule under "rule".
"""
from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

from core.coco import load_coco, resolve_category
from core.errors import UserError
from core.io import atomic_write_json, check_not_input, check_out_dir, input_paths


def _key(file_name: str, seed: int | None) -> str:
    return hashlib.sha1(((f"{seed}:" if seed is not None else "") + file_name).encode("utf-8")).hexdigest()


def apportion(sizes: list[float], total: int) -> list[int]:
    """`total` split in proportion to `sizes` by largest remainder (ties to the larger size, then the first)."""
    raw = [total * n / sum(sizes) for n in sizes]
    out = [int(x) for x in raw]
    for i in sorted(range(len(sizes)), key=lambda i: (-(raw[i] - out[i]), -sizes[i]))[: total - sum(out)]:
        out[i] += 1
    return out


def make_split(coco_json: str | Path, exposed: float, category: str | None = None, seed: int | None = None,
               stratify: bool = False) -> dict:
    """-> {"exposed": [ids], "test": [ids], "rule": {...}} by the module docstring's rule."""
    cs = load_coco(coco_json, check_files=False)
    cid = resolve_category(cs.categories, category, str(coco_json))
    cats: dict[int, set[int]] = {}
    for a in cs.annotations:
        cats.setdefault(a["image_id"], set()).add(a["category_id"])
    order = sorted(cs.images, key=lambda im: _key(im["file_name"], seed))
    pool = [im["id"] for im in order if (cid in cats.get(im["id"], ()) if cid is not None else im["id"] in cats)]
    n = int(round(exposed * len(pool))) if 0 < exposed < 1 else int(exposed)
    if not pool or n < 1 or n >= len(cs.images):
        raise UserError(f"{coco_json}: --exposed {exposed:g} gives {n} exposed of {len(pool)} candidate images "
                        f"and {len(cs.images) - n} test images; both splits must be non-empty")
    if n > len(pool):
        raise UserError(f"{coco_json}: --exposed {n}: only {len(pool)} images hold {category or 'an annotation'}")
    chosen = pool[:n]
    if stratify:
        groups: dict[tuple, list[int]] = {}
        for i in pool:
            groups.setdefault(tuple(sorted(cats[i])), []).append(i)
        keys = sorted(groups)
        chosen = [i for k, c in zip(keys, apportion([len(groups[k]) for k in keys], n)) for i in groups[k][:c]]
    exp = set(chosen)
    return {"exposed": sorted(exp), "test": sorted(im["id"] for im in cs.images if im["id"] not in exp),
            "rule": {"order": "sha1(file_name)" if seed is None else f"sha1('{seed}:' + file_name)",
                     "pool": f"images holding {category}" if category else "images holding an annotation",
                     "exposed": n, "stratify": stratify}}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="synthgap split", description="write split.json (exposed / test image "
                                "ids) from a COCO file by a reproducible rule (see core/split.py)")
    p.add_argument("coco", help="labels: a COCO json, a YOLO data.yaml (or folder) or a Pascal VOC folder "
                   "(core/real_source.py; the ids are those `synthgap run --real` reads)")
    p.add_argument("--exposed", type=float, required=True, help="exposed images: a count, or a fraction (< 1)")
    p.add_argument("--category", default=None, help="only images holding this category can be exposed")
    p.add_argument("--seed", type=int, default=None, help="salt of the hash (default: none)")
    p.add_argument("--stratify", action="store_true", help="exposed share per group of category sets")
    p.add_argument("--out", required=True, help="split.json to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    args = p.parse_args(argv)
    out = Path(args.out)
    check_out_dir(out.parent)
    check_not_input(out, input_paths(vars(args)))
    e = args.exposed
    if not math.isfinite(e) or e <= 0 or (e >= 1 and e != int(e)):
        raise UserError(f"--exposed: must be a count >= 1 or a fraction in (0, 1), got {e:g}")
    if out.is_dir() or (out.exists() and not args.force):
        raise UserError(f"{out}: --out exists (use --force to overwrite, or another name)")
    from core.real_source import resolve_real
    coco, _ = resolve_real(args.coco, None, "COCO")
    split = make_split(coco, args.exposed, args.category, args.seed, args.stratify)
    atomic_write_json(out, split)
    print(f"{out}: {len(split['exposed'])} exposed, {len(split['test'])} test images")
    return 0
