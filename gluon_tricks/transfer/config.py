"""The settings of ``detect`` and ``segment`` (paper §6), each option declared once with
:func:`~gluon_tricks.options.option` as TrainConfig's are: the two parsers are generated from
these fields, ``--print-config`` prints them, ``--config FILE`` reads them back and
:func:`resolve` is the one place they are checked. The defaults the paper leaves open are
GluonCV's published runs' (see :mod:`.detection` and :mod:`.segmentation`)."""
import os
from dataclasses import dataclass
from typing import List, Optional

from .. import devices, options
from ..data.imagesize import MAX_PIXELS
from ..data.recorditer import check_batch_fits
from ..errors import UsageError
from ..lr_scheduler import same_for_lengths
from ..options import MAX_PARALLEL, option, redefault
from ..runcore.settings import RunConfig, run_option
from . import detection as det, segmentation as seg
from .backbone import BACKBONES

DATA, MODEL, OPTIM = "data", "model", "optimisation"


@dataclass
class TransferConfig(RunConfig):
    """What ``detect`` and ``segment`` share; each task's class sets its own defaults."""

    data_root: Optional[str] = option(
        None, "--data-root", group=DATA, metavar="DIR", resume_safe=True,
        help="the data set's folder (required): VOCdevkit for detect, ADEChallengeData2016 for "
             "segment")
    backbone: str = option("resnet50_v1d", "--backbone", group=MODEL, choices=BACKBONES,
                           metavar="NAME",
                           help="backbone network (Table 8-9 also use resnet50_v1b)")
    backbone_params: Optional[str] = option(
        None, "--backbone-params", group=MODEL, metavar="PATH", resume_safe=True,
        help="ImageNet weights (required): a .params file (GluonCV zoo or ours), a checkpoint "
             "directory or a run folder (its checkpoints/best); the classifier is ignored")
    num_epochs: int = option(1, "--num-epochs", group=OPTIM, minimum=0, exclusive=True,
                             help="epochs")
    batches_per_epoch: int = option(0, "--batches-per-epoch", group=DATA, minimum=0, metavar="N",
                                    help="updates per epoch (0: the whole training set)")
    lr: float = option(0.01, "--lr", group=OPTIM, minimum=0, exclusive=True,
                       help="learning rate")
    wd: float = option(1e-4, "--wd", group=OPTIM, minimum=0, help="weight decay")
    momentum: float = 0.9
    devices: str = devices.DEFAULT          # --gpus/--cpus/--num-gpus (commands/arguments.py)
    max_image_pixels: int = MAX_PIXELS      # --max-image-pixels (data/imagesize.py)
    num_workers: int = option(
        4, "-j", "--num-workers", group=DATA, minimum=0, maximum=MAX_PARALLEL, metavar="N",
        resume_safe=True,
        unobservable="speed, and above 0 which process draws each image's augmentation: a run "
                     "with loader processes does not repeat, so no test can compare two",
        help="data loading processes (0: in the main process, the only way a run repeats bit "
             "for bit)")
    save_dir: str = run_option("save_dir", "runs/transfer")
    save_frequency: int = run_option("save_frequency")
    keep_last: int = run_option("keep_last", 1)
    checkpoint_minutes: float = run_option("checkpoint_minutes")
    resume: Optional[str] = run_option("resume")
    overwrite: bool = run_option("overwrite")
    log_interval: int = run_option("log_interval", 20)
    logging_file: str = run_option("logging_file")
    tensorboard: bool = run_option("tensorboard")
    seed: int = run_option("seed")
    title: str = ""

    def check(self):
        """The task's checks beyond each option's own range."""


@dataclass
class DetectConfig(TransferConfig):
    """``gluon-tricks detect``: Faster R-CNN on Pascal VOC (§6.1, Table 8)."""

    COMMAND = "detect"
    NUM_EPOCHS_RULE = ("--num-epochs may change only when every --lr-decay-epoch falls before "
                       "the old and the new end")

    num_epochs: int = redefault(TransferConfig, "num_epochs", det.NUM_EPOCHS)
    lr: float = redefault(TransferConfig, "lr", det.LR)
    wd: float = redefault(TransferConfig, "wd", det.WD)
    save_dir: str = redefault(TransferConfig, "save_dir", "runs/detect")
    train_splits: str = option(det.TRAIN_SPLITS, "--train-splits", group=DATA, metavar="LIST",
                               help="training sets, YEAR-SPLIT comma list")
    test_splits: str = option(det.TEST_SPLITS, "--test-splits", group=DATA, metavar="LIST",
                              help="evaluation sets")
    short: int = option(det.SHORT, "--short", group=DATA, minimum=32,
                        help="image shorter side")
    max_size: int = option(det.MAX_SIZE, "--max-size", group=DATA, minimum=32,
                           help="longer side cap, at least --short")
    lr_decay_epochs: List[int] = option(
        None, "--lr-decay-epoch", group=OPTIM, metavar="E1,E2",
        default_factory=lambda: list(det.LR_DECAY_EPOCHS),
        help="epochs where lr ×%g (GluonCV's VOC run)" % det.LR_DECAY)
    lr_warmup: int = option(
        det.WARMUP_UPDATES, "--lr-warmup", group=OPTIM, minimum=0, metavar="N",
        help="linear warmup updates from lr/3 (paper: Detectron's; 0 = GluonCV's published run)")
    title: str = "Faster R-CNN on Pascal VOC (paper §6.1, Table 8)"

    @staticmethod
    def num_epochs_may_change(saved, old, new):
        return same_for_lengths("step", saved["lr_decay_epochs"], old, new)

    def check(self):
        if self.max_size < self.short:
            raise UsageError("--max-size (%d) must be at least --short (%d)"
                             % (self.max_size, self.short))
        if any(e < 1 for e in self.lr_decay_epochs):
            raise UsageError("--lr-decay-epoch takes positive epoch numbers like 14,20, got %s"
                             % ",".join(map(str, self.lr_decay_epochs)))
        self.lr_decay_epochs = sorted(self.lr_decay_epochs)
        det.parse_splits(self.train_splits, "--train-splits")
        det.parse_splits(self.test_splits, "--test-splits")
        check_batch_fits(1, self.max_size, "--max-size")   # an image is at most that a side


@dataclass
class SegmentConfig(TransferConfig):
    """``gluon-tricks segment``: FCN on ADE20K (§6.2, Table 9)."""

    COMMAND = "segment"
    NUM_EPOCHS_RULE = "--num-epochs may not change: the poly schedule stretches with the total"

    num_epochs: int = redefault(TransferConfig, "num_epochs", seg.NUM_EPOCHS)
    lr: float = redefault(TransferConfig, "lr", seg.LR)
    wd: float = redefault(TransferConfig, "wd", seg.WD)
    save_dir: str = redefault(TransferConfig, "save_dir", "runs/segment")
    batch_size: int = option(seg.BATCH_SIZE, "--batch-size", group=OPTIM, minimum=1,
                             help="images per update over all devices")
    base_size: int = option(seg.BASE_SIZE, "--base-size", group=DATA, minimum=16,
                            help="random rescale base: longer side in [0.5, 2]× this, at least "
                                 "half the crop")
    crop_size: int = option(seg.CROP_SIZE, "--crop-size", group=DATA, minimum=32,
                            help="training crop and validation crop side")
    aux: bool = option(True, "--no-aux", group=MODEL,
                       help="no auxiliary head on stage 3 (GluonCV's published run has it)")
    aux_weight: float = seg.AUX_WEIGHT
    multi_scale: bool = option(
        False, "--multi-scale", group="evaluation",
        help="evaluate at 6 scales with flips on whole images, as GluonCV's published scores "
             "(slow); default single-scale")
    title: str = "FCN on ADE20K (paper §6.2, Table 9)"

    def check(self):
        if self.base_size < self.crop_size // 2:
            raise UsageError("--base-size (%d) must be at least half of --crop-size (%d)"
                             % (self.base_size, self.crop_size))
        check_batch_fits(self.batch_size, self.crop_size, "--batch-size or --crop-size")
        check_batch_fits(1, 2 * self.base_size, "--base-size")   # rescaled to up to twice that


def resolve(cfg):
    """Check ``cfg`` (a DetectConfig or SegmentConfig) and fill the derived values in place;
    bad values raise one-line UsageErrors."""
    options.check(cfg)
    cfg.devices = devices.parse(cfg.devices)[0]
    for flag, value in (("--data-root", cfg.data_root), ("--backbone-params",
                                                         cfg.backbone_params)):
        if not value:
            raise UsageError("%s is required (see gluon-tricks %s --help)" % (flag, cfg.COMMAND))
    cfg.data_root = os.path.abspath(cfg.data_root)
    cfg.check()
    return cfg
