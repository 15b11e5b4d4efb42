"""``gluon-tricks make-demo-data OUT_DIR``: build the synthetic shapes/textures demo set offline."""
from ..datasets import demo

NAME = "make-demo-data"
HELP = "draw a small synthetic 10-class data set (no download) and pack it to train/val .rec"


def configure(parser):
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for images/, train.rec and val.rec")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--classes", type=int, default=len(demo.KINDS),
                        help="number of classes, 2..%d (default %d)" % (len(demo.KINDS), len(demo.KINDS)))
    parser.add_argument("--train-per-class", type=int, default=260, metavar="N",
                        help="training images per class (default 260)")
    parser.add_argument("--val-per-class", type=int, default=50, metavar="M",
                        help="validation images per class (default 50)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="threads (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace what is in OUT_DIR (a complete set with the same parameters "
                             "is reused without it)")


def run(args):
    paths = demo.make_demo_data(args.out_dir, seed=args.seed, classes=args.classes,
                                train_per_class=args.train_per_class, val_per_class=args.val_per_class,
                                overwrite=args.overwrite, threads=args.threads)
    for key in ("train_rec", "train_idx", "val_rec", "val_idx", "train_classes"):
        print("%-13s %s" % (key, paths[key]))
    return 0
