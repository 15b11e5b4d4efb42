"""The §6 scores on hand-made predictions with known answers (VOC07 11-point AP; pixAcc and mIoU
with unlabelled pixels ignored); the two tasks' learning-rate schedules are in test_lr_scheduler."""
import mxnet as mx
import numpy as np
import pytest
from gluoncv.utils.metrics import SegmentationMetric
from gluoncv.utils.metrics.voc_detection import VOC07MApMetric

from gluon_tricks.transfer.detection import head_settings, HEAD
from gluon_tricks.transfer.segmentation import NUM_CLASSES


def _nd(rows):
    return mx.nd.array(np.array(rows, dtype=np.float32)[None])


def test_voc07_ap_of_hand_made_detections():
    """Class 0 has two boxes; detections: a hit (0.9), a miss elsewhere (0.8), a duplicate of
    the hit (0.7). Precision/recall: (1, ½), (½, ½), (⅓, ½) → 11-point AP = 6/11 (recall ≤ 0.5
    at precision 1). Class 1: one box found exactly → AP 1. A difficult box counts for neither."""
    metric = VOC07MApMetric(iou_thresh=0.5, class_names=["a", "b"])
    gt_boxes = _nd([[0, 0, 10, 10], [20, 20, 30, 30], [40, 0, 50, 10], [0, 40, 8, 48]])
    gt_labels = _nd([[0], [0], [1], [0]])
    difficult = _nd([[0], [0], [0], [1]])
    boxes = _nd([[0, 0, 10, 10], [60, 60, 70, 70], [0, 0, 10, 10], [40, 0, 50, 10], [0, 40, 8, 48]])
    labels = _nd([[0], [0], [0], [1], [0]])
    scores = _nd([[0.9], [0.8], [0.7], [0.6], [0.95]])
    metric.update(boxes, labels, scores, gt_boxes, gt_labels, difficult)
    names, values = metric.get()
    assert names == ["a", "b", "mAP"]
    assert values[0] == pytest.approx(6 / 11)
    assert values[1] == pytest.approx(1.0)
    assert values[2] == pytest.approx((6 / 11 + 1) / 2)


def test_pixacc_and_miou_of_a_hand_made_label_map():
    """4×4 target: left half class 0, right half class 1, top row unlabelled (−1). Prediction
    all class 0. Labelled 12 pixels, 6 correct → pixAcc ½. IoU class 0 = 6/12, class 1 = 0/6,
    the other 148 classes 0 (GluonCV averages over all classes)."""
    target = np.zeros((1, 4, 4), np.float32)
    target[:, :, 2:] = 1
    target[:, 0, :] = -1
    scores = np.zeros((1, NUM_CLASSES, 4, 4), np.float32)
    scores[:, 0] = 1
    metric = SegmentationMetric(NUM_CLASSES)
    metric.update(mx.nd.array(target), mx.nd.array(scores))
    pix_acc, miou = metric.get()
    assert pix_acc == pytest.approx(0.5)
    assert miou == pytest.approx(0.5 / NUM_CLASSES)


def test_rpn_counts_are_gluoncvs_at_the_published_size():
    assert head_settings(600, 1000) == HEAD
    small = head_settings(96, 128)
    assert small["rpn_train_pre_nms"] == 6 * 6 * 15 and small["rpn_train_post_nms"] == 270
