"""``gluon-tricks detect``: Faster R-CNN on Pascal VOC from one of our classifiers (§6.1, Table 8)."""
import os

from ..data.record import check_batch_fits
from ..errors import UsageError, shown
from ..transfer import detection as det
from ..transfer.backbone import BACKBONES
from ..transfer.run import add_common_arguments, start

NAME = "detect"
HELP = ("Faster R-CNN on Pascal VOC with a trained classifier as backbone (paper §6.1, Table 8): "
        "VOC07 11-point mAP on 2007-test after each epoch")


def configure(p):
    add_common_arguments(p, BACKBONES, "VOCdevkit folder (holding VOC2007/, VOC2012/)",
                         det.NUM_EPOCHS, det.LR, det.WD, "runs/detect")
    p.add_argument("--train-splits", default=det.TRAIN_SPLITS, metavar="LIST",
                   help="training sets, YEAR-SPLIT comma list (default %(default)s)")
    p.add_argument("--test-splits", default=det.TEST_SPLITS, metavar="LIST",
                   help="evaluation sets (default %(default)s)")
    p.add_argument("--short", type=int, default=det.SHORT, help="image shorter side (default 600)")
    p.add_argument("--max-size", type=int, default=det.MAX_SIZE, help="longer side cap (default 1000)")
    p.add_argument("--lr-decay-epoch", default=",".join(map(str, det.LR_DECAY_EPOCHS)),
                   help="epochs where lr ×0.1 (default %(default)s, GluonCV's VOC run)")
    p.add_argument("--lr-warmup", type=int, default=det.WARMUP_UPDATES, metavar="N",
                   help="linear warmup updates from lr/3 (paper: Detectron's, default 500; "
                        "0 = GluonCV's published run)")


def run(args):
    if args.short < 32 or args.max_size < args.short or args.lr_warmup < 0:
        raise UsageError("need --short ≥ 32, --max-size ≥ --short and --lr-warmup ≥ 0, got %d, "
                         "%d and %d" % (args.short, args.max_size, args.lr_warmup))
    check_batch_fits(1, args.max_size, "--max-size")   # an image is at most --max-size a side
    train_splits = det.parse_splits(args.train_splits, "--train-splits")
    test_splits = det.parse_splits(args.test_splits, "--test-splits")
    root = os.path.abspath(args.data_root)
    try:
        decay = sorted(int(e) for e in args.lr_decay_epoch.split(",") if e.strip())
    except ValueError:
        raise UsageError("--lr-decay-epoch takes epochs like 14,20, got %s"
                         % shown(args.lr_decay_epoch, quoted=True)) from None
    extra = dict(train_splits=args.train_splits, test_splits=args.test_splits, short=args.short,
                 max_size=args.max_size, lr_decay_epochs=decay, lr_warmup=args.lr_warmup,
                 title="Faster R-CNN on Pascal VOC (paper §6.1, Table 8)")

    def make_task(cfg, contexts):
        net, loaded = det.build(cfg["backbone"], cfg["backbone_params"], contexts,
                                cfg["short"], cfg["max_size"])
        return det.Detection(net, root, train_splits, test_splits, contexts, cfg), loaded

    def check_data():
        det.check_voc(root, train_splits, args.max_image_pixels)
        det.check_voc(root, test_splits, args.max_image_pixels)

    result = start(args, extra, check_data, make_task)
    if result is not None:
        print("mAP %.2f%% (VOC07 11-point, %s)" % (100 * result["mAP"], args.test_splits))
    return 0
