"""``gluon-tricks segment``: FCN on ADE20K from one of our classifiers (§6.2, Table 9)."""
from ..transfer import segmentation as seg
from ..transfer.config import SegmentConfig
from . import transfer

NAME = "segment"
HELP = ("FCN (stages 3-4 dilated) on ADE20K with a trained classifier as backbone (paper §6.2, "
        "Table 9): pixAcc and mIoU on validation after each epoch")


def configure(p):
    transfer.configure(p, SegmentConfig)


def run(args):
    _, result = transfer.run(args, SegmentConfig,
                          lambda cfg: seg.check_ade(cfg.data_root, cfg.max_image_pixels),
                          seg.Segmentation)
    if result is not None:
        print("pixAcc %.2f%%, mIoU %.2f%% (ADE20K validation)"
              % (100 * result["pixAcc"], 100 * result["mIoU"]))
    return 0
