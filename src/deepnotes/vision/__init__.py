"""Vision tasks (syllabus section 4): classification with localization, then detection.

``localization``: the target y = (p_c, b_x, b_y, b_w, b_h, c_1..c_k) from ``data.shapes``,
decoding a model's outputs, and the metrics (mean IoU, presence accuracy, class accuracy given
an object). ``boxes``: box formats, pairwise IoU, non-maximum suppression. ``detection``: the
grid detector, its targets and decoding, AP (VOC all-point, COCO 101-point) and COCO mAP. The
loss itself is
``losses.localization_loss``; the model ``nn.LocalizationCNN``.
"""

from __future__ import annotations

from .boxes import (
    BOX_FORMATS,
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    nms,
    paired_box_iou,
)
from .detection import (
    Detections,
    GridDetector,
    GridLoss,
    average_precision,
    coco_map,
    decode_grid,
    grid_target,
    match_detections,
)
from .localization import (
    LocalizationPrediction,
    class_accuracy,
    decode_localization,
    localization_ious,
    localization_target,
    mean_iou,
    paired_iou,
    presence_accuracy,
)

__all__ = [
    "BOX_FORMATS",
    "Detections",
    "GridDetector",
    "GridLoss",
    "average_precision",
    "coco_map",
    "decode_grid",
    "grid_target",
    "match_detections",
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "paired_box_iou",
    "nms",
    "LocalizationPrediction",
    "class_accuracy",
    "decode_localization",
    "localization_ious",
    "localization_target",
    "mean_iou",
    "paired_iou",
    "presence_accuracy",
]
