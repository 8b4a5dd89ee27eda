"""Loop stages without rendering: equal plans render once."""
import yaml

from synthgap import stages
from synthgap.options import RunOptions


def test_equal_plans_render_once_and_the_second_set_is_linked(tmp_path):
    plan = {"total": 4, "entries": [{"config": {"resolution": [32, 24]}, "config_name": "a", "count": 4,
                                     "why": "component 0"}]}
    p1, p2 = tmp_path / "plan.yaml", tmp_path / "plan-mix.yaml"
    p1.write_text(yaml.safe_dump(plan))
    plan["entries"][0]["why"] = "the mixture's own note"          # notes differ, what is rendered does not
    p2.write_text(yaml.safe_dump(plan))
    calls = []

    def render(what, n, out, seed):
        calls.append(out.name)
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "images" / "000001.jpg").write_bytes(b"jpeg")
        (out / "coco_annotations.json").write_text("{}")
        (out / "DONE").write_text("")
        return out

    opts = RunOptions(real_json=tmp_path / "r.json", images=tmp_path, split=tmp_path / "s.json",
                      grid=tmp_path / "g.yaml", out=tmp_path / "run", selectors=["component", "mixture"], variants=[])
    stages.stage_sets(opts, {}, {"component": p1, "mixture": p2}, render)
    sets = opts.out / "sets"
    assert calls == ["aligned-component"]
    assert (sets / "aligned-mix" / "DONE").exists()
    assert (sets / "aligned-mix" / "images" / "000001.jpg").read_bytes() == b"jpeg"
    assert (sets / "aligned-mix" / "coco_annotations.json").stat().st_ino == \
        (sets / "aligned-component" / "coco_annotations.json").stat().st_ino          # hard links, no copy
    plan["entries"][0]["count"] = 3                                                     # another plan renders
    plan["total"] = 3
    p2.write_text(yaml.safe_dump(plan))
    import shutil
    shutil.rmtree(sets / "aligned-mix")
    stages.stage_sets(opts, {}, {"component": p1, "mixture": p2}, render)
    assert calls == ["aligned-component", "aligned-component", "aligned-mix"]   # the done set re-verified by render()
