"""The CPU training speed-ups (issue 26): the Faster R-CNN's sparse RoIAlign gives torchvision's numbers, and the
--frcnn-* and --yolo-precision/--yolo-cache options do what they say (benchmark/roi_pool.py, benchmark/frcnn.py
FrcnnParams, benchmark/yolo.py YoloParams)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _rois(n: int, images: int, w: float, h: float, gen):
    """Boxes over the whole image and past its edges, tiny and large."""
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([w * 1.1, h * 1.1]) - torch.tensor([w * 0.1, h * 0.1])
    wh = torch.rand(n, 2, generator=gen) ** 2 * torch.tensor([w, h]) + 0.1
    return torch.cat([torch.randint(0, images, (n, 1), generator=gen).float(), xy, xy + wh], 1)


@pytest.mark.parametrize("hw,scale,out,ratio", [((15, 20), 1 / 16, (7, 7), 2), ((8, 10), 1 / 32, (7, 7), 2),
                                                ((5, 9), 1 / 32, (3, 5), 3)])
def test_sparse_roi_align_gives_torchvision_outputs_and_gradients(hw, scale, out, ratio):
    from torchvision.ops import roi_align

    from benchmark.roi_pool import roi_align_sparse
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(3, 8, *hw, generator=gen, requires_grad=True)
    rois = _rois(64, 3, hw[1] / scale, hw[0] / scale, gen)
    ours = roi_align_sparse(feat, rois, out, scale, ratio)
    ref = roi_align(feat, rois, out, scale, ratio, aligned=False)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)
    g = torch.randn(ref.shape, generator=gen)
    (ga,) = torch.autograd.grad((ours * g).sum(), feat)
    (gr,) = torch.autograd.grad((ref * g).sum(), feat)
    assert torch.allclose(ga, gr, atol=1e-4)


def test_the_model_pools_with_it_and_detects_as_torchvisions_pooling_does():
    from torchvision.ops import MultiScaleRoIAlign

    from benchmark.frcnn_arch import build_frcnn
    from benchmark.roi_pool import sparse_roi_align_class
    torch.manual_seed(0)
    model, _ = build_frcnn(2, 64, init="scratch")
    pool = model.roi_heads.box_roi_pool
    assert isinstance(pool, sparse_roi_align_class())
    model.eval()
    images = [torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(k)) for k in range(2)]
    feats = model.backbone(model.transform(images)[0].tensors)
    boxes = [torch.tensor([[0.0, 0.0, 64.0, 48.0], [10.0, 5.0, 12.0, 9.0]]), torch.zeros(0, 4)]
    tv = MultiScaleRoIAlign(pool.featmap_names, pool.output_size, pool.sampling_ratio)
    with torch.no_grad():
        ours, ref = pool(feats, boxes, [(48, 64)] * 2), tv(feats, boxes, [(48, 64)] * 2)
        assert ours.shape == ref.shape == (2, 128, 7, 7)
        assert torch.allclose(ours, ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):   # pooled in float32 under autocast, like torchvision's
            assert pool(feats, boxes, [(48, 64)] * 2).dtype == torch.float32


def test_frcnn_options_freeze_layout_and_precision(monkeypatch):
    from benchmark import frcnn
    from benchmark.frcnn_arch import backbone_features, build_frcnn
    from core import envs
    from core.errors import UserError
    model, _ = build_frcnn(1, 64, pretrained_layout=True)   # a pretrained backbone's layout (frozen batch norm)
    got = frcnn.prepare_model(model, frcnn.FrcnnParams(precision="fp32", memory_format="channels-last", freeze=14),
                              torch.device("cpu"))
    assert got == {"precision": "fp32", "memory_format": "channels-last", "frozen_blocks": 14}
    blocks = list(backbone_features(model).children())
    assert [any(p.requires_grad for p in b.parameters()) for b in blocks] == [False] * 14 + [True] * 5
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    scratch, _ = build_frcnn(1, 64, init="scratch")   # a random backbone trains whole: freeze does not apply
    assert frcnn.prepare_model(scratch, frcnn.FrcnnParams(freeze=14), torch.device("cpu"))["frozen_blocks"] is None
    assert all(p.requires_grad for p in scratch.parameters())
    for flags, want in (("flags : avx512f avx512_bf16", "bf16"), ("flags : avx512f", "fp32")):
        monkeypatch.setattr(envs.Path, "read_text", lambda self, _f=flags: _f)
        assert frcnn.prepare_model(scratch, frcnn.FrcnnParams(precision="auto"), torch.device("cpu"))["precision"] \
            == want
    for bad, flag in ((dict(precision="fp16"), "--frcnn-precision fp16"), (dict(freeze=19), "--frcnn-freeze 19"),
                      (dict(memory_format="nhwc"), "--frcnn-memory-format nhwc")):
        with pytest.raises(UserError, match=flag):
            frcnn.FrcnnParams(**bad).check()


def test_a_bf16_channels_last_cell_trains_and_records_how(tmp_path):
    from benchmark.frcnn import FrcnnParams, samples_for, train_frcnn
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    d = make_toy_set(tmp_path / "toy", 4, seed=3, names=("bottle",), max_objects=1)
    cs = load_coco(d / "coco_annotations.json", d)
    s = samples_for(cs, None, ["bottle"], 64)
    res = train_frcnn(s, s, cs.subset(None, ["bottle"]), ["bottle"], cs.name_to_id(), epochs=1, imgsz=64, seed=0,
                      device="cpu", batch=4, init="imagenet",
                      options=FrcnnParams(precision="bf16", memory_format="channels-last", freeze=11))
    assert res.training == {"precision": "bf16", "memory_format": "channels-last", "frozen_blocks": 11}
    assert res.skipped_steps == 0 and res.val["map"] >= 0


def test_a_yolo_bf16_ram_cached_cell_trains_on_the_cpu_and_restores_ultralytics(tmp_path):
    from benchmark import convert, yolo
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    from core.errors import UserError
    cs = load_coco(make_toy_set(tmp_path / "toy", 4, seed=3, names=("bottle",), max_objects=1))
    d = convert.export_yolo(cs, tmp_path / "y", ["bottle"])
    data = convert.write_data_yaml(tmp_path / "data.yaml", d, d, ["bottle"])
    import ultralytics.engine.trainer as trainer
    before = trainer.autocast
    r = yolo.train_yolo(data, tmp_path / "cell", epochs=1, imgsz=64, batch=4, seed=0, device="cpu",
                        precision="bf16", cache="ram")
    assert r.precision == "bf16" and r.weights.exists() and trainer.autocast is before
    with pytest.raises(UserError, match="--yolo-cache disk"):
        yolo.YoloParams(cache="disk").check()
    with pytest.raises(UserError, match="--yolo-precision fp16"):
        yolo.YoloParams(precision="fp16").check()
