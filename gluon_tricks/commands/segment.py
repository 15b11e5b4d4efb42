"""``gluon-tricks segment``: FCN on ADE20K from one of our classifiers (§6.2, Table 9)."""
from ..data.record import check_batch_fits
from ..errors import UsageError
from ..transfer import segmentation as seg
from ..transfer.backbone import BACKBONES
from ..transfer.run import add_common_arguments, start

NAME = "segment"
HELP = ("FCN (stages 3-4 dilated) on ADE20K with a trained classifier as backbone (paper §6.2, "
        "Table 9): pixAcc and mIoU on validation after each epoch")


def configure(p):
    add_common_arguments(p, BACKBONES, "ADEChallengeData2016 folder (images/, annotations/)",
                         seg.NUM_EPOCHS, seg.LR, seg.WD, "runs/segment")
    p.add_argument("--batch-size", type=int, default=seg.BATCH_SIZE,
                   help="images per update over all devices (default %(default)s)")
    p.add_argument("--base-size", type=int, default=seg.BASE_SIZE,
                   help="random rescale base: longer side in [0.5, 2]× this (default 520)")
    p.add_argument("--crop-size", type=int, default=seg.CROP_SIZE,
                   help="training crop and validation crop side (default 480)")
    p.add_argument("--no-aux", action="store_true",
                   help="no auxiliary head on stage 3 (GluonCV's published run has it)")
    p.add_argument("--multi-scale", action="store_true",
                   help="evaluate at 6 scales with flips on whole images, as GluonCV's published "
                        "scores (slow); default single-scale")


def run(args):
    if args.crop_size < 32 or args.base_size < args.crop_size // 2 or args.batch_size < 1:
        raise UsageError("need --crop-size ≥ 32, --base-size ≥ crop/2 and --batch-size ≥ 1")
    check_batch_fits(args.batch_size, args.crop_size, "--batch-size or --crop-size")
    check_batch_fits(1, 2 * args.base_size, "--base-size")   # rescaled to up to twice that
    extra = dict(batch_size=args.batch_size, base_size=args.base_size, crop_size=args.crop_size,
                 aux=not args.no_aux, aux_weight=seg.AUX_WEIGHT, multi_scale=args.multi_scale,
                 title="FCN on ADE20K (paper §6.2, Table 9)")

    def make_task(cfg, contexts):
        net, loaded = seg.build(cfg["backbone"], cfg["backbone_params"], contexts, cfg["aux"],
                                cfg["base_size"], cfg["crop_size"])
        return seg.Segmentation(net, cfg["data_root"], contexts, cfg,
                                args.max_image_pixels), loaded

    result = start(args, extra, lambda: seg.check_ade(args.data_root, args.max_image_pixels),
                   make_task)
    if result is not None:
        print("pixAcc %.2f%%, mIoU %.2f%% (ADE20K validation)"
              % (100 * result["pixAcc"], 100 * result["mIoU"]))
    return 0
