"""FCN on ADE20K with one of our ResNets, dilated on stages 3-4, as backbone (paper §6.2, Table 9).

The head, the reader, its transforms, the loss and the metric are GluonCV's (``_FCNHead``,
``ADE20KSegmentation``, ``MixSoftmaxCrossEntropyLoss``, ``SegmentationMetric``); the backbone and
the loop are ours. Settings not in the paper come from GluonCV's published ``fcn_resnet50_ade``
run: ``classification.py --dataset ade20k --model fcn --aux --lr 0.01 --syncbn --ngpus 4``
(dmlc/web-data gluoncv/logs/segmentation/fcn_resnet50_ade.sh) with classification.py's defaults
(scripts/segmentation/train.py: ``--batch-size 16 --epochs 50 --base-size 520 --crop-size 480
--weight-decay 1e-4 --momentum 0.9 --aux-weight 0.5``, 'poly' learning rate).
"""
import os

from mxnet import autograd, gluon
from PIL import Image

from .. import framework
from ..data import imagesize, rooted
from ..errors import UsageError
from ..lr_scheduler import make_scheduler
from . import backbone as backbones
from .task import TransferTraining

# GluonCV's published run (module docstring); the paper gives none of these.
LR, WD, MOMENTUM = 0.01, 1e-4, 0.9
BATCH_SIZE, NUM_EPOCHS = 16, 50
BASE_SIZE, CROP_SIZE = 520, 480
AUX_WEIGHT = 0.5            # the auxiliary FCN head on stage 3 (GluonCV's --aux)
HEAD_LR_MULT = 10           # gluoncv model_zoo/fcn.py sets lr_mult 10 on both heads
POLY_POWER = 0.9            # gluoncv.utils.LRScheduler('poly') default
# GluonCV's published scores (test.py --eval) average 6 scales with flips (MultiEvalModel).
MULTI_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
NUM_CLASSES = 150


def ade_base(root):
    """The folder holding ADEChallengeData2016 (GluonCV's reader appends that name)."""
    root = os.path.abspath(root)
    if os.path.basename(root) == "ADEChallengeData2016":
        return os.path.dirname(root)
    if os.path.isdir(os.path.join(root, "ADEChallengeData2016")):
        return root
    raise UsageError("%s is not an ADEChallengeData2016 folder; --data-root takes the unpacked "
                     "ADEChallengeData2016 (see README, ADE20K)" % root)


def check_ade(root, max_pixels=imagesize.MAX_PIXELS):
    """One-line UsageError unless ``root``'s training and validation images each have a label
    PNG of the same size, both inside the data set's folder and of at most ``max_pixels``
    pixels (sizes read from the headers); returns the (training, validation) image counts."""
    base = os.path.join(ade_base(root), "ADEChallengeData2016")
    inside = rooted.Root(base)
    counts = []
    for split in ("training", "validation"):
        images = os.path.join(base, "images", split)
        labels = os.path.join(base, "annotations", split)
        for folder in (images, labels):
            if not os.path.isdir(folder):
                raise UsageError("%s not found: ADEChallengeData2016 must hold images/%s and "
                                 "annotations/%s" % (folder, split, split))
        names = sorted(n for n in os.listdir(images) if n.endswith(".jpg"))
        if not names:
            raise UsageError("%s holds no .jpg images" % images)
        for name in names:
            image, label = os.path.join(images, name), os.path.join(labels, name[:-4] + ".png")
            for path in (image, label):
                inside.check(path, base)
            if not os.path.isfile(label):
                raise UsageError("%s not found: every image of %s needs its label PNG"
                                 % (label, images))
            image_size = imagesize.checked_file_size(image, max_pixels)
            label_size = imagesize.checked_file_size(label, max_pixels)
            if image_size != label_size:
                raise UsageError("%s is %d×%d but its image %s is %d×%d; the label PNG must match "
                                 "its image" % (label, *label_size[::-1], name, *image_size[::-1]))
        counts.append(len(names))
    return tuple(counts)


class FCN(gluon.HybridBlock):
    """FCN (§6.2): GluonCV's FCN head on the dilated backbone's stage-4 output, bilinearly
    upsampled to the input size; with ``aux``, a second head on stage 3 (GluonCV's ``--aux``)."""

    def __init__(self, resnet, channels, nclass, aux=True, base_size=BASE_SIZE,
                 crop_size=CROP_SIZE):
        super().__init__()
        self.nclass, self.aux = nclass, aux
        self.base_size, self.crop_size = base_size, crop_size     # read by MultiEvalModel
        with self.name_scope():
            self.base = resnet.part(1, 3)
            self.top = resnet.part(4, 4, stem=False)
            self.head = framework.fcn_head(channels, nclass)
            if aux:
                self.auxlayer = framework.fcn_head(channels // 2, nclass)

    def heads(self):
        """The blocks that start from random weights."""
        return [self.head] + ([self.auxlayer] if self.aux else [])

    def hybrid_forward(self, F, x):
        c3 = self.base(x)
        out = [F.contrib.BilinearResize2D(self.head(self.top(c3)), like=x, mode="like")]
        if self.aux:
            out.append(F.contrib.BilinearResize2D(self.auxlayer(c3), like=x, mode="like"))
        return tuple(out)

    def evaluate(self, x):
        """The main head's scores (MultiEvalModel's interface)."""
        return self(x)[0]


def build(backbone_name, backbone_params, contexts, aux=True, base_size=BASE_SIZE,
          crop_size=CROP_SIZE):
    """FCN for ADE20K's 150 classes on ``backbone_name`` (stages 3-4 dilated 2 and 4, output
    stride 8) with the weights of ``backbone_params``; every layer trains, as in GluonCV's
    fcn_resnet50_ade. Returns (net, Backbone)."""
    resnet = backbones.build(backbone_name, dilated=True)
    loaded = backbones.load(resnet, backbone_name, backbone_params, contexts)
    channels = resnet.stage_channels[-1]
    net = FCN(resnet, channels, NUM_CLASSES, aux, base_size, crop_size)
    for head in net.heads():
        head.initialize(ctx=contexts)
        head.collect_params().setattr("lr_mult", HEAD_LR_MULT)
    return net, loaded


class Segmentation(TransferTraining):
    """FCN training on ADE20K ``training`` and pixAcc/mIoU on ``validation``, from the settings
    ``cfg`` (a SegmentConfig): single-scale (GluonCV classification.py's validation: shorter side to the
    crop size, centre crop) or, with ``multi_scale``, GluonCV test.py's 6 scales with flips on
    whole images. GluonCV's reader decodes with PIL, whose own bomb check is set to
    ``--max-image-pixels`` (:func:`check_ade` has refused larger images by name)."""

    score = "mIoU"
    score_keys = ("pixAcc", "mIoU")

    def __init__(self, cfg, contexts, resume_from=None):
        from gluoncv.data import ADE20KSegmentation
        from gluoncv.loss import MixSoftmaxCrossEntropyLoss
        from gluoncv.utils.metrics import SegmentationMetric
        from mxnet.gluon.data.vision import transforms

        if cfg.batch_size % len(contexts):
            raise UsageError("--batch-size %d does not split evenly over %d devices"
                             % (cfg.batch_size, len(contexts)))
        super().__init__(cfg, contexts, resume_from)
        self.build(*build(cfg.backbone, cfg.backbone_params, contexts, cfg.aux,
                          cfg.base_size, cfg.crop_size))
        Image.MAX_IMAGE_PIXELS = cfg.max_image_pixels
        # ImageNet normalisation on [0, 1]: the paper's mean/std (§2.1) divided by 255.
        normalize = transforms.Compose([
            transforms.ToTensor(),
            transforms.Normalize([.485, .456, .406], [.229, .224, .225])])
        sizes = dict(transform=normalize, base_size=cfg.base_size, crop_size=cfg.crop_size)
        base = ade_base(cfg.data_root)
        train = ADE20KSegmentation(base, split="train", mode="train", **sizes)
        val = ADE20KSegmentation(base, split="val",
                                 mode="testval" if cfg.multi_scale else "val", **sizes)
        workers, batch = cfg.num_workers, cfg.batch_size
        train_loader = gluon.data.DataLoader(train, batch, shuffle=True, last_batch="rollover",
                                             num_workers=workers)
        self.val = val
        self.val_loader = gluon.data.DataLoader(val, len(contexts) if cfg.multi_scale else
                                                batch, last_batch="keep", num_workers=workers)
        self.images_per_update = batch
        self.loss = MixSoftmaxCrossEntropyLoss(aux=self.net.aux, aux_weight=cfg.aux_weight)
        self.metric = SegmentationMetric(NUM_CLASSES)
        self.net.hybridize()
        self.start(train_loader, self.net.collect_params(), resume_from)

    def schedule(self):
        """GluonCV's 'poly' over every update of the run, power 0.9 (§6.2)."""
        cfg = self.cfg
        return make_scheduler("poly", cfg.lr, self.iters, cfg.num_epochs, power=POLY_POWER)

    def update(self, batch, seed):
        data, target = batch
        data = gluon.utils.split_and_load(data, self.contexts)
        target = gluon.utils.split_and_load(target, self.contexts)
        with autograd.record():
            losses = [self.loss(*self.net(x), y) for x, y in zip(data, target)]
        autograd.backward(losses)
        self.trainer.step(sum(x.shape[0] for x in data))
        return [(loss.sum(), None) for loss in losses]

    def evaluate(self):
        """pixAcc and mIoU over the 150 classes (unlabelled pixels ignored), GluonCV's metric."""
        self.metric.reset()
        if self.cfg.multi_scale:
            from gluoncv.model_zoo.segbase import MultiEvalModel

            model = MultiEvalModel(self.net, NUM_CLASSES, self.contexts, scales=MULTI_SCALES)
            for images, targets in self.val_loader:
                outputs = model.parallel_forward(list(images))
                for target, out in zip(targets, outputs):
                    scores = out[0] if isinstance(out, (list, tuple)) else out
                    self._update(target.expand_dims(0), scores)
        else:
            for images, targets in self.val_loader:
                images = gluon.utils.split_and_load(images, self.contexts, even_split=False)
                targets = gluon.utils.split_and_load(targets, self.contexts, even_split=False)
                for target, image in zip(targets, images):
                    self._update(target, self.net.evaluate(image))
        pix_acc, miou = self.metric.get()
        return {"pixAcc": float(pix_acc), "mIoU": float(miou)}

    def _update(self, target, scores):
        """One (N, H, W) target and (N, C, H, W) scores into the metric, in this thread (its
        list form runs threads, which would hide an error)."""
        self.metric.update(target, scores)

    def scores(self, result):
        how = "multi-scale (%s, flips)" % ", ".join(map(str, MULTI_SCALES)) \
            if self.cfg.multi_scale else "single-scale (centre crop %d)" % self.cfg.crop_size
        return ["ADE20K validation, %s: pixAcc **%.2f%%**, mIoU **%.2f%%**"
                % (how, 100 * result["pixAcc"], 100 * result["mIoU"])]
