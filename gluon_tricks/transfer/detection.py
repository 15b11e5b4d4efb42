"""Faster R-CNN on Pascal VOC with one of our ResNets as backbone (paper §6.1, Table 8).

The detector is GluonCV's (``FasterRCNN``, its VOC reader, transforms and target generators,
``VOC07MApMetric``); the backbone and the loop are ours. Settings not in the paper come from
GluonCV's published ``faster_rcnn_resnet50_v1b_voc`` run: the command
``train_faster_rcnn.py --gpus 0,1,2,3 --dataset voc --network resnet50_v1b`` and its log's
arguments ``batch_size=4, epochs=20, lr=0.001, lr_decay=0.1, lr_decay_epoch='14,20',
lr_warmup=-1, momentum=0.9, wd=0.0005, short=600, max_size=1000``
(dmlc/web-data gluoncv/logs/detection/faster_rcnn_resnet50_v1b_voc{.sh,_train.log}).
"""
import os
import warnings
import xml.etree.ElementTree as ET

from mxnet import autograd, gluon

from ..data import imagesize, rooted
from ..errors import UsageError, shown
from ..lr_scheduler import make_scheduler
from . import backbone as backbones
from .task import TransferTraining

# GluonCV's published run (module docstring); the paper gives none of these.
SHORT, MAX_SIZE = 600, 1000
LR = 0.001                 # for 4 images per update, one per GPU
LR_DECAY, LR_DECAY_EPOCHS = 0.1, (14, 20)
NUM_EPOCHS = 20            # the paper's "long training schedule" (§6.1) is not given in epochs
MOMENTUM, WD = 0.9, 5e-4
CLIP_GRADIENT = 5          # train_faster_rcnn.py's Trainer: 'sgd', clip_gradient 5
# Paper §6.1: "linear warmup" from Detectron, whose default is 500 updates from 1/3 of the lr
# (the paper gives no length). GluonCV's published run had none (lr_warmup=-1): --lr-warmup 0.
WARMUP_UPDATES, WARMUP_FACTOR = 500, 1.0 / 3
TRAIN_SPLITS, TEST_SPLITS = "2007-trainval,2012-trainval", "2007-test"

# faster_rcnn_resnet50_v1b_voc's head (gluoncv model_zoo/rcnn/faster_rcnn/predefined_models.py):
# C4 features (stride 16) with stage 4 as the box head, RoIAlign 14×14, anchors 16 × (2..32).
HEAD = dict(short=SHORT, max_size=MAX_SIZE, nms_thresh=0.3, nms_topk=400, post_nms=100,
            roi_mode="align", roi_size=(14, 14), strides=16, clip=None, rpn_channel=1024,
            base_size=16, scales=(2, 4, 8, 16, 32), ratios=(0.5, 1, 2), alloc_size=(128, 128),
            rpn_nms_thresh=0.7, rpn_train_pre_nms=12000, rpn_train_post_nms=2000,
            rpn_test_pre_nms=6000, rpn_test_post_nms=300, rpn_min_size=16, num_sample=128,
            pos_iou_thresh=0.5, pos_ratio=0.25, max_num_gt=100)


def parse_splits(text, flag):
    """``2007-trainval,2012-trainval`` → [(2007, 'trainval'), (2012, 'trainval')]."""
    splits = []
    for item in text.split(","):
        year, _, name = item.strip().partition("-")
        if not (year.isdigit() and name):
            raise UsageError("%s takes YEAR-SPLIT items like 2007-trainval, got %s"
                             % (flag, shown(item, quoted=True)))
        splits.append((int(year), name))
    return splits


def check_voc(root, splits, max_pixels=imagesize.MAX_PIXELS):
    """One-line UsageError unless ``root`` (a VOCdevkit folder) holds every image list of
    ``splits`` and, for each listed image, its annotation XML and JPEG, inside its VOC folder and
    of at most ``max_pixels`` pixels; returns the image count."""
    count = 0
    for year, name in splits:
        folder = os.path.join(root, "VOC%d" % year)
        listing = os.path.join(folder, "ImageSets", "Main", name + ".txt")
        if not os.path.isfile(listing):
            raise UsageError("%s not found: --data-root must be a VOCdevkit folder holding "
                             "VOC%d/ImageSets/Main/%s.txt (see README, Pascal VOC)"
                             % (listing, year, name))
        with open(listing, encoding="utf-8", errors="surrogateescape") as f:
            ids = [(number, line.strip()) for number, line in enumerate(f, 1) if line.strip()]
        if not ids:
            raise UsageError("%s lists no images" % listing)
        inside = rooted.Root(folder)
        for number, image_id in ids:
            xml = os.path.join(folder, "Annotations", image_id + ".xml")
            jpg = os.path.join(folder, "JPEGImages", image_id + ".jpg")
            for path in (xml, jpg):
                inside.check(path, "%s line %d" % (listing, number))
            if not os.path.isfile(xml):
                raise UsageError("%s not found: every image of %s needs its annotation"
                                 % (xml, listing))
            if not os.path.isfile(jpg):
                raise UsageError("%s not found: %s lists it" % (jpg, listing))
            imagesize.checked_file_size(jpg, max_pixels)
            try:
                ET.parse(xml)
            except ET.ParseError as err:
                raise UsageError("%s is not valid XML (%s)" % (xml, err)) from None
        count += len(ids)
    return count


def build(backbone_name, backbone_params, contexts, short=SHORT, max_size=MAX_SIZE):
    """Faster R-CNN for the 20 VOC classes on ``backbone_name`` with the weights of
    ``backbone_params``; returns (net, Backbone).

    As GluonCV's resnet50_v1b detector: BN frozen (use_global_stats, no gradient), stem and
    stage 1 frozen, stages 2-4 and the heads trained (its ``train_patterns``); stages 1-3 are
    ``features``, stage 4 runs on each RoI (``top_features``).
    """
    from gluoncv.data import VOCDetection
    from gluoncv.model_zoo.rcnn.faster_rcnn import FasterRCNN

    resnet = backbones.build(backbone_name, frozen_bn=True)
    loaded = backbones.load(resnet, backbone_name, backbone_params, contexts)
    features, top = resnet.part(1, 3), resnet.part(4, 4, stem=False)
    backbones.freeze([resnet.part(1, 1)])
    backbones.freeze_batchnorm(resnet)
    head = head_settings(short, max_size)
    net = FasterRCNN(features, top, VOCDetection.CLASSES, per_device_batch_size=1, **head)
    loaded_names = {p.name for p in resnet.collect_params().values()}
    for param in net.collect_params().values():
        if param.name not in loaded_names:
            param.initialize(ctx=contexts)
    # GluonCV builds the R-CNN target generator on first use, its constants on cpu(0).
    net.target_generator.collect_params().reset_ctx(contexts)
    return net, loaded


def head_settings(short, max_size):
    """HEAD for images of shorter side ``short``: the RPN's proposal counts are capped at the
    anchors of a ``short``² image (and half of them after NMS), which only bites below ~450 px
    (tiny test runs); at the published 600 px the settings are GluonCV's."""
    anchors = (short // HEAD["strides"]) ** 2 * len(HEAD["scales"]) * len(HEAD["ratios"])
    head = dict(HEAD, short=short, max_size=max_size)
    for key in ("rpn_train_pre_nms", "rpn_test_pre_nms"):
        head[key] = min(head[key], anchors)
    for key in ("rpn_train_post_nms", "rpn_test_post_nms", "num_sample"):
        head[key] = min(head[key], anchors // 2)
    return head


class Detection(TransferTraining):
    """Faster R-CNN training and VOC07 evaluation on ``contexts`` (one image per device and
    update, as GluonCV's VOC runs), from the settings ``cfg`` (a DetectConfig)."""

    score = "mAP"
    score_keys = ("mAP",)

    def __init__(self, cfg, contexts, resume_from=None):
        from gluoncv.data import VOCDetection, batchify
        from gluoncv.data.transforms.presets.rcnn import (FasterRCNNDefaultTrainTransform,
                                                          FasterRCNNDefaultValTransform)
        from gluoncv.utils.metrics.voc_detection import VOC07MApMetric

        super().__init__(cfg, contexts, resume_from)
        self.build(*build(cfg.backbone, cfg.backbone_params, contexts, cfg.short, cfg.max_size))
        net = self.net
        train = VOCDetection(cfg.data_root, splits=parse_splits(cfg.train_splits,
                                                                "--train-splits"))
        test = VOCDetection(cfg.data_root, splits=parse_splits(cfg.test_splits, "--test-splits"))
        self.classes = test.classes
        self.metric = VOC07MApMetric(iou_thresh=0.5, class_names=test.classes)
        workers = cfg.num_workers
        train_loader = gluon.data.DataLoader(
            train.transform(FasterRCNNDefaultTrainTransform(cfg.short, cfg.max_size, net)),
            len(contexts), shuffle=True, last_batch="rollover", num_workers=workers,
            batchify_fn=batchify.Tuple(*[batchify.Append() for _ in range(5)]))
        self.test_loader = gluon.data.DataLoader(
            test.transform(FasterRCNNDefaultValTransform(cfg.short, cfg.max_size)),
            len(contexts), shuffle=False, last_batch="keep", num_workers=workers,
            batchify_fn=batchify.Tuple(*[batchify.Append() for _ in range(3)]))
        self.images_per_update = len(contexts)
        self.rpn_cls = gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=False)
        self.rpn_box = gluon.loss.HuberLoss(rho=1 / 9.0)   # smooth L1, as GluonCV's script
        self.rcnn_cls = gluon.loss.SoftmaxCrossEntropyLoss()
        self.rcnn_box = gluon.loss.HuberLoss()
        trainable = {k: p for k, p in net.collect_params().items() if p.grad_req != "null"}
        self.start(train_loader, trainable, resume_from, clip_gradient=CLIP_GRADIENT)

    def schedule(self):
        """×``LR_DECAY`` at each of ``--lr-decay-epoch``, Detectron's warmup from lr/3 over
        ``--lr-warmup`` updates (§6.1)."""
        cfg = self.cfg
        return make_scheduler("step", cfg.lr, self.iters, cfg.num_epochs,
                              step_epochs=cfg.lr_decay_epochs, step_factor=LR_DECAY,
                              warmup_updates=cfg.lr_warmup, warmup_start=WARMUP_FACTOR)

    def epoch_batches(self, epoch, start=0):
        self.net.hybridize(static_alloc=True)    # a new graph: training and inference differ
        return super().epoch_batches(epoch, start)

    def update(self, batch, seed):
        """The four losses of GluonCV's train_faster_rcnn.py: RPN objectness (sigmoid BCE) and
        box (smooth L1, ρ = 1/9), each normalised by the sampled anchors; R-CNN class (softmax
        CE) and box (smooth L1), normalised by the sampled RoIs. Returns each device's loss."""
        parts = [[x.as_in_context(ctx) for x in items]
                 for items, ctx in zip(zip(*batch), self.contexts)]
        losses = []
        with autograd.record():
            for data, label, rpn_cls_t, rpn_box_t, rpn_box_m in parts:
                # the transform's anchor targets come per feature level, (1, 1, H, W, A[×4])
                rpn_cls_t = rpn_cls_t.reshape((1, -1))
                rpn_box_t, rpn_box_m = rpn_box_t.reshape((1, -1, 4)), rpn_box_m.reshape((1, -1, 4))
                gt_label, gt_box = label[:, :, 4:5], label[:, :, :4]
                (cls_pred, box_pred, _, _, _, rpn_score, rpn_box, _, cls_t, box_t, box_m,
                 _) = self.net(data, gt_box, gt_label)
                rpn_score = rpn_score.squeeze(axis=-1)
                n_anchor = (rpn_cls_t >= 0).sum()
                rpn = (self.rpn_cls(rpn_score, rpn_cls_t, rpn_cls_t >= 0) * rpn_cls_t.size
                       + self.rpn_box(rpn_box, rpn_box_t, rpn_box_m) * rpn_box.size) / n_anchor
                n_roi = (cls_t >= 0).sum()
                rcnn = (self.rcnn_cls(cls_pred, cls_t, cls_t.expand_dims(-1) >= 0) * cls_t.size
                        + self.rcnn_box(box_pred, box_t, box_m) * box_pred.size) / n_roi
                losses.append(rpn.sum() + rcnn.sum())
        autograd.backward(losses)
        self.trainer.step(len(parts))
        return [(loss, None) for loss in losses]

    def evaluate(self):
        """VOC07 11-point mAP (IoU 0.5, difficult objects ignored) and each class's AP."""
        from gluoncv.nn.bbox import BBoxClipToImage

        clip = BBoxClipToImage()
        self.metric.reset()
        self.net.hybridize(static_alloc=True)
        for batch in self.test_loader:
            for (image, label, scale), ctx in zip(zip(*batch), self.contexts):
                with warnings.catch_warnings():   # the training-only box encoder sits idle
                    warnings.filterwarnings("ignore", message=".*boxcenterencoder.*not used")
                    ids, scores, boxes = self.net(image.as_in_context(ctx))
                scale = float(scale.reshape(-1)[0].asscalar())
                gt = label.as_in_context(ctx)
                self.metric.update(clip(boxes, image.as_in_context(ctx)) * scale, ids, scores,
                                   gt[:, :, :4] * scale, gt[:, :, 4:5],
                                   gt[:, :, 5:6] if gt.shape[-1] > 5 else None)
        names, values = self.metric.get()
        per_class = dict(zip(names[:-1], values[:-1]))
        return {"mAP": float(values[-1]), "AP": per_class}

    def scores(self, result):
        lines = ["VOC07 11-point mAP on %s: **%.2f%%**" % (self.cfg.test_splits,
                                                         100 * result["mAP"]), "",
                 "| class | AP (%) |", "|---|---|"]
        for name, value in result["AP"].items():
            lines.append("| %s | %s |" % (name, "n/a (no objects)" if value != value
                                          else "%.2f" % (100 * value)))
        return lines
