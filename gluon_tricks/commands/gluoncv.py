"""GluonCV's train_imagenet.py flags (gluon-cv 0.10/0.11) that have no TrainConfig field of
their own: accepted with GluonCV's meaning where the paper's training does the same thing, else
refused in one line saying what to use instead. Flags with a field (``--num-gpus``, ``-j``,
``--logging-file``, ``--lr-decay-period``, ...) are declared on the field."""
import argparse

from .. import options
from ..data.augment import MEAN_RGB, STD_RGB
from ..data.recorditer import VAL_CROP_RATIO
from ..errors import UsageError, shown

GROUP = "GluonCV train_imagenet.py flags"
OUTSIDE_PAPER = {
    "use_se": "--use_se (SE blocks for ResNeXt)",
    "batch_norm": "--batch-norm (VGG with BatchNorm)",
    "use_gn": "--use-gn (GroupNorm)",
}
RESUME_FLAGS = ("resume_epoch", "resume_params", "resume_states")


def _triple(text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError("takes three comma-separated numbers, got %s"
                                         % shown(text, quoted=True))
    return values


def add_arguments(parser):
    g = parser.add_argument_group(GROUP, "accepted so that GluonCV's published commands run "
                                         "unchanged")
    g.add_argument("--mode", choices=("hybrid", "imperative"), default="hybrid",
                   help="hybrid: the only mode here (the network is always hybridized)")
    options.unobservable(g.add_argument("--use-rec", action="store_true",
                                        help="read RecordIO files: always the case here"),
                         "GluonCV's flag, accepted so that its commands run: records are "
                         "always read")
    g.add_argument("--warmup-lr", type=float, default=0.0, metavar="LR",
                   help="warmup start lr: 0, the paper's linear warmup from 0 (§3.1)")
    g.add_argument("--crop-ratio", type=float, default=VAL_CROP_RATIO, metavar="R",
                   help="validation crop ratio: %g, the paper's (§2.1)" % VAL_CROP_RATIO)
    g.add_argument("--rgb-mean", type=_triple, default=MEAN_RGB, metavar="R,G,B",
                   help="normalisation mean: the paper's %s" % ",".join(map(str, MEAN_RGB)))
    g.add_argument("--rgb-std", type=_triple, default=STD_RGB, metavar="R,G,B",
                   help="normalisation std: the paper's %s" % ",".join(map(str, STD_RGB)))
    g.add_argument("--resume-epoch", type=int, default=0, metavar="E",
                   help="refused: resume a run with --resume RUN_DIR")
    g.add_argument("--resume-params", default="", metavar="FILE",
                   help="refused: resume a run with --resume RUN_DIR")
    g.add_argument("--resume-states", default="", metavar="FILE",
                   help="refused: resume a run with --resume RUN_DIR")
    for dest, what in OUTSIDE_PAPER.items():
        flag = what.split()[0]
        g.add_argument(flag, dest=dest, action="store_true", help="refused: outside the paper")


def translate(args, given):
    """Check the GluonCV-only flags in ``args`` and map what they mean into ``given`` (the
    typed TrainConfig options); one-line UsageError for what this project does not do."""
    if args.mode != "hybrid":
        raise UsageError("--mode %s: gluon-tricks always trains the hybridized network (GluonCV's "
                         "--mode hybrid, as in its published commands)" % args.mode)
    if args.warmup_lr:
        raise UsageError("--warmup-lr %g: the paper's warmup rises linearly from 0 (§3.1); leave "
                         "--warmup-lr out" % args.warmup_lr)
    if args.crop_ratio != VAL_CROP_RATIO:
        raise UsageError("--crop-ratio %g: validation here uses the paper's %g (resize to S/%g, "
                         "center crop S); leave --crop-ratio out"
                         % (args.crop_ratio, VAL_CROP_RATIO, VAL_CROP_RATIO))
    for flag, value, paper in (("--rgb-mean", args.rgb_mean, MEAN_RGB),
                               ("--rgb-std", args.rgb_std, STD_RGB)):
        if tuple(value) != tuple(paper):
            raise UsageError("%s %s: training here normalises with the paper's %s (§2.1); leave "
                             "%s out" % (flag, ",".join("%g" % v for v in value),
                                         ",".join("%g" % v for v in paper), flag))
    if any(getattr(args, name) for name in RESUME_FLAGS):
        raise UsageError("--resume-epoch/--resume-params/--resume-states: gluon-tricks resumes "
                         "a run from its folder (parameters, trainer states and epoch together): "
                         "gluon-tricks train ... --resume %s"
                         % given.get("save_dir", "RUN_DIR (the earlier run's --save-dir)"))
    for dest, what in OUTSIDE_PAPER.items():
        if getattr(args, dest):
            raise UsageError("%s is outside the paper; gluon-tricks trains the paper's networks "
                             "only" % what)
    if given.get("data_backend") == "mxnet":
        given["data_backend"] = "rec"
    return given
