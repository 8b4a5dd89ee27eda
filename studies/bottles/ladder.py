"""The realism ladder on the bottles set: the aligned set's geometry, one step of photo-likeness added at a time.

Steps (each 150 images at 240x320, the aligned plan's configs with only these keys changed, the same seed):
  flat      one flat colour behind the support plane, no distractors (the renderer's oldest look)
  hdri      + an indoor HDRI the camera sees
  clutter   + 0-2 distractor objects (the aligned set of round 2 exactly)
  photo     + background plates cut from the 30 *exposed* photos (`synthgap plates`), objects' shadows caught on
              them, lit by each plate's mean colour; Intel OIDN denoising
  photo-fx  + camera effects: exposure +-0.5 EV, white balance 4000-8000 K, sensor noise sd 2-6, JPEG 60-95
  photo-full + 2-5 unlabelled clutter objects from the Sweet Home 3D catalogue (one in front of a target in 30 %
              of the scenes), per-object material jitter (hue +-0.05, saturation and value x0.7-1.3, roughness
              0.1-0.8) and motion blur 0-2 px (render.postfx.PHOTO_FULL: the look `synthgap run`'s photo-like
              sets use)
  room-full  photo-full without the plates: a room (textured floor, four walls, the objects on a dining table)
              instead, OIDN, the same effects, clutter and materials - the look without any photo
For each: KID (+- its standard error) and FID to the real exposed photos and to the real test photos
(align/realism.py), a contact sheet of 12 renders beside 12 exposed photos, and the render time per image.
Detectors are trained afterwards by run_parallel.py over OUT/sets (see RESULTS.md for the command).

  .venv/bin/python studies/bottles/ladder.py --out runs/ladder      (resumable: finished sets are kept)
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

STEPS = ["flat", "hdri", "clutter", "photo", "photo-fx", "photo-full", "room-full"]


def step_config(base: dict, step: str, plates: Path) -> dict:
    c = copy.deepcopy(base)
    k = STEPS.index(step)
    if k == 0:
        c["background"] = {"kind": "color", "ids": []}
    if k <= 1:
        c["distractors"] = [0, 0]
    if k >= 3:
        from render.postfx import photo_like
        c = photo_like(c, plates, effects=k >= 4, full=k >= 5)
    if step == "room-full":
        c["background"] = {"kind": "room"}
        c["placement"] = "surface"
    return c


def plan_for(plan: dict, step: str, plates: Path) -> dict:
    return {"total": plan["total"], "entries": [{**e, "config": step_config(e["config"], step, plates)}
                                                for e in plan["entries"]]}


def render(plan: dict, out: Path, seed: int) -> float:
    """Render the plan into out (skipped when done); -> seconds per image of this call (None when skipped)."""
    if (out / "DONE").exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    pf = out.parent / f"{out.name}.plan.yaml"
    pf.write_text(yaml.safe_dump(plan, sort_keys=False))
    t0 = time.monotonic()
    subprocess.run([str(ROOT / "bin" / "synthgap"), "render", "--plan", str(pf), "--out", str(out), "--workers", "2",
                    "--seed", str(seed)], check=True, cwd=ROOT)
    return (time.monotonic() - t0) / plan["total"]


def contact_sheet(real, exposed: list[int], set_dir: Path, out: Path, n: int = 12) -> None:
    from core.coco import load_coco
    from render.plates import contact_sheet as sheet, sheet_paths
    renders, photos = sheet_paths(load_coco(set_dir), real, exposed, n)
    sheet(renders + photos, out, cols=n, tile=100)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", default=str(ROOT.parent / "shared" / "realsets" / "bottles"))
    p.add_argument("--plan", default=str(ROOT / "runs" / "study-bottles-r2" / "plan.yaml"),
                   help="the aligned plan of round 2 (run_regimes.sh)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from align.realism_metrics import realism
    from core.coco import load_coco, load_split
    from render.plates import make_plates
    real_dir, out = Path(a.real), Path(a.out)
    plates = out / "plates"
    if not (plates / "plates.json").exists():
        make_plates(str(real_dir / "annotations_coco.json"), str(real_dir / "images"), str(real_dir / "split.json"),
                    str(plates), (240, 320))
    plan = yaml.safe_load(Path(a.plan).read_text())
    real = load_coco(real_dir / "annotations_coco.json", real_dir / "images")
    split = load_split(real_dir / "split.json", real)
    table_path = out / "ladder.json"
    table = json.loads(table_path.read_text()) if table_path.exists() else {}
    for step in STEPS:
        set_dir = out / "sets" / step
        spi = render(plan_for(plan, step, plates.resolve()), set_dir, a.seed)
        row = table.setdefault(step, {})
        if spi is not None:
            row["render_s_per_image"] = round(spi, 3)
        syn = load_coco(set_dir)
        row["kid_exposed"] = realism(real, split.exposed, syn)
        row["kid_test"] = realism(real, split.test, syn)
        contact_sheet(real, split.exposed, set_dir, out / f"sheet-{step}.jpg")
        table_path.write_text(json.dumps(table, indent=1))
        e, t = row["kid_exposed"], row["kid_test"]
        print(f"{step:<9} KID exposed {e['kid']:.4f} ± {e['se']:.4f}  test {t['kid']:.4f} ± {t['se']:.4f}  "
              f"FID exposed {e['fid']:.1f}  render {row.get('render_s_per_image', float('nan')):.2f} s/img",
              flush=True)
    ref = realism(real, split.exposed, real, split.test)
    table["real-test-vs-exposed"] = {"kid_exposed": ref}
    table_path.write_text(json.dumps(table, indent=1))
    print(f"reference: real test photos vs exposed photos KID {ref['kid']:.4f} ± {ref['se']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
