"""`synthgap refine train|apply|check`: align/refine.py's train and apply, and benchmark/refine_check.py's label
check (a detector trained on renders scores held-out renders before and after refinement)."""
from __future__ import annotations

from pathlib import Path


def main(argv: list[str]) -> int:
    import benchmark.api  # noqa: F401  (registers the learned-task refiner)
    from align.api import refine_parser, refine_run, refine_source_dir
    from core.api import UserError
    ap, sub = refine_parser()
    pc = sub.add_parser("check", help="the label check: a detector trained on unrefined renders scores held-out "
                        "renders as rendered and as refined; a refiner losing more than 0.05 AP50 is rejected")
    pc.add_argument("--refiner", required=True, help="a refiner folder of `synthgap refine train`")
    pc.add_argument("--detector", required=True, help="a Faster R-CNN cell's best.pt trained on unrefined renders")
    pc.add_argument("--held-out", required=True, help="dataset dir of renders the detector did not train on")
    pc.add_argument("--imgsz", type=int, default=320, help="the detector's input size (default: 320)")
    pc.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    a = ap.parse_args(argv)
    if a.cmd != "check":
        return refine_run(a)
    from benchmark.api import label_check
    if not (Path(a.refiner) / "DONE").exists():
        raise UserError(f"{a.refiner}: --refiner: not a finished refiner dir (no DONE; run `synthgap refine train`)")
    if not Path(a.detector).is_file():
        raise UserError(f"{a.detector}: --detector: file not found")
    rec = label_check(Path(a.refiner), Path(a.detector), refine_source_dir(a.held_out, "--held-out"), a.imgsz, a.device)
    print(f"label check: AP50 {rec['ap50_renders']:.3f} on {rec['images']} held-out renders, {rec['ap50_refined']:.3f} "
          f"refined (drop {rec['drop']:+.3f}, most {rec['max_drop']}): {'passed' if rec['passed'] else 'REJECTED'}")
    return 0 if rec["passed"] else 1
