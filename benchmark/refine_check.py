"""The refiner's label check (issue 24): refined pixels must not change what the boxes label.

A Faster R-CNN trained on *unrefined* renders (a benchmark cell's best.pt, `--detector`) scores held-out renders
(a dataset dir it did not train on, e.g. probe renders of the plan's configs) as rendered and as refined by the
refiner under test. When AP50 on the refined copy is more than MAX_AP50_DROP (0.05) below AP50 on the renders,
the refined pixels no longer show what the labels say (an object turned into another shape, or vanished), and
the refiner is rejected: `label_check` is written into its refiner.json with the two AP50s and the drop, and
`synthgap refine apply` refuses a rejected refiner (exit 2, with that number). The check also passes a
refiner whose renders the detector already finds poorly; it bounds harm, it does not measure gain.

    synthgap refine check --refiner R --detector CELL/best.pt --held-out DIR [--category C] [--imgsz 320]
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from core.errors import UserError
from core.io import atomic_write_json, read_json

MAX_AP50_DROP = 0.05


def _ap50(model, cs, names: list[str], imgsz: int) -> float:
    import torch

    from benchmark.evaluate import score_faster
    from benchmark.frcnn import predict_samples, samples_for
    samples = samples_for(cs, None, names, imgsz)
    ids = cs.name_to_id()
    dev = next(model.parameters()).device
    with torch.no_grad():
        dets = predict_samples(model, samples, names, {n: ids[n] for n in names}, dev)
    return float(score_faster(cs.subset(None, names), dets)["ap50"] or 0.0)


def label_check(refiner: Path, detector: Path, held_out: Path, imgsz: int = 320, device: str = "auto") -> dict:
    """Refine `held_out` into a temporary dir, score both with `detector`, record and -> the label check."""
    from align.api import refine_dir
    from benchmark.frcnn_init import checkpoint_model
    from core.coco import load_coco
    model, names = checkpoint_model(detector, imgsz, "--detector")
    model.eval()
    src = load_coco(held_out / "coco_annotations.json", held_out)
    missing = [n for n in names if n not in src.name_to_id()]
    if missing:
        raise UserError(f"{held_out}: --held-out has no category {missing} of the detector's classes {names}")
    with tempfile.TemporaryDirectory(prefix="label-check-") as tmp:
        refine_dir(refiner, held_out, Path(tmp) / "refined", device, gates=False)
        refined = load_coco(Path(tmp) / "refined" / "coco_annotations.json", Path(tmp) / "refined")
        before, after = _ap50(model, src, list(names), imgsz), _ap50(model, refined, list(names), imgsz)
    rec = {"detector": str(detector), "held_out": str(held_out), "images": len(src.images),
           "ap50_renders": round(before, 4), "ap50_refined": round(after, 4), "drop": round(before - after, 4),
           "max_drop": MAX_AP50_DROP, "passed": before - after <= MAX_AP50_DROP}
    path = refiner / "refiner.json"
    atomic_write_json(path, {**read_json(path, "refiner"), "label_check": rec})
    return rec
