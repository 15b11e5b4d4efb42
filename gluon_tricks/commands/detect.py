"""``gluon-tricks detect``: Faster R-CNN on Pascal VOC from one of our classifiers (§6.1, Table 8)."""
from ..transfer import detection as det
from ..transfer.config import DetectConfig
from . import transfer

NAME = "detect"
HELP = ("Faster R-CNN on Pascal VOC with a trained classifier as backbone (paper §6.1, Table 8): "
        "VOC07 11-point mAP on 2007-test after each epoch")


def configure(p):
    transfer.configure(p, DetectConfig)


def check_data(cfg):
    for splits, flag in ((cfg.train_splits, "--train-splits"), (cfg.test_splits, "--test-splits")):
        det.check_voc(cfg.data_root, det.parse_splits(splits, flag), cfg.max_image_pixels)


def run(args):
    cfg, result = transfer.run(args, DetectConfig, check_data, det.Detection)
    if result is not None:
        print("mAP %.2f%% (VOC07 11-point, %s)" % (100 * result["mAP"], cfg.test_splits))
    return 0
