"""``gluon-tricks demo``: the paper's best ResNet-50-D recipe on the built-in demo data, with a report.

A thin preset over ``train``: it builds the ``train`` settings of paper Table 6
"+ mixup w/o distill" scaled to a few epochs of small images, resolves them as ``train`` does
(``config.build``) and runs the same training loop (which evaluates on the validation set
after every epoch), then writes ``report.md`` beside the run's metrics, checkpoints and plots.
"""
import os
import shlex
import time

from .. import options
from ..config import TrainConfig, build
from ..datasets import demo as demo_data
from ..devices import usable_contexts
from ..errors import UsageError
from ..runcore.report import TABLE6_RESNET50D_MIXUP, write_report
from ..runcore.folder import RunFolder
from . import arguments

NAME = "demo"
HELP = "train ResNet-50-D with the paper's best recipe on the demo data and write a report"

MODEL = "resnet50_v1d"
LR_PER_256 = 0.1
# Paper: 5 warmup epochs of the 200 that mixup trains for (§3.1, §5.4).
PAPER_WARMUP, PAPER_EPOCHS = 5, 200


def configure(p):
    p.add_argument("--out", default=os.path.join("runs", "demo"),
                   help="run folder for metrics, checkpoints, plots and report.md (default runs/demo)")
    p.add_argument("--data-dir", default=None,
                   help="demo data set folder, built there if absent (default OUT/data)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    p.add_argument("--input-size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--batch-size", type=int, default=32, help="images per device per step (default 32)")
    p.add_argument("--train-per-class", type=int, default=260, metavar="N",
                   help="training images per class of the demo set (default 260)")
    p.add_argument("--val-per-class", type=int, default=50, metavar="M",
                   help="validation images per class of the demo set (default 50)")
    arguments.add_devices(p)
    p.add_argument("--dtype", choices=("auto", "float32", "float16"), default="auto",
                   help="auto: FP16 on GPUs as in the paper (§3.2), FP32 on the CPU")
    p.add_argument("--seed", type=int, default=0, help="training seed (the demo set is always the same)")
    arguments.add_threads(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier demo run in OUT (refused otherwise)")


def schedule(epochs):
    """(warmup epochs, epochs without mixup at the end) for a run of ``epochs``: the paper's
    5 of 200 warmup epochs scaled (at least one when there is room), mixup off for the last
    tenth (at least one epoch once there are two)."""
    warmup = min(epochs - 1, max(1, round(epochs * PAPER_WARMUP / PAPER_EPOCHS)))
    mixup_off = max(1, epochs // 10) if epochs >= 2 else 0
    return warmup, mixup_off


def log_interval(steps):
    """Batches between progress lines: a divisor of the epoch's ``steps`` giving 4–8 equal
    windows if there is one, else a quarter epoch, so the loss plot's points each average
    many batches (the epoch's last line closes whatever window is open)."""
    fits = [d for d in range(1, steps + 1) if steps % d == 0 and 4 <= steps // d <= 8]
    return max(fits) if fits else max(1, -(-steps // 4))


def train_settings(args, data_dir):
    """The ``train`` settings of the demo's recipe (paper Table 6, scaled down), keyed by
    TrainConfig field."""
    warmup, mixup_off = schedule(args.epochs)
    dtype = args.dtype if args.dtype != "auto" else (
        "float16" if args.devices.startswith("gpu") else "float32")
    given = dict(model=MODEL, classes=len(demo_data.KINDS), data_dir=data_dir,
                 input_size=args.input_size, batch_size=args.batch_size, num_epochs=args.epochs,
                 lr_per_256=LR_PER_256, lr_mode="cosine", warmup_epochs=warmup,
                 label_smoothing=0.1, mixup_alpha=0.2, mixup_off_epoch=mixup_off,
                 last_gamma=True, no_wd=True, init="xavier", dtype=dtype, threads=args.threads,
                 seed=args.seed, save_dir=args.out, devices=args.devices,
                 log_interval=log_interval(len(demo_data.KINDS) * args.train_per_class
                                           // args.batch_size))
    if args.overwrite:
        given["overwrite"] = True
    return given


def train_command(given):
    """The ``gluon-tricks train`` command line of the settings ``given``."""
    kind, spec = given["devices"].split(":")
    argv = options.command_line(TrainConfig, given) + ["--gpus" if kind == "gpu" else "--cpus",
                                                       spec]
    return "gluon-tricks train " + " ".join(shlex.quote(a) for a in argv)


def run(args):
    from ..classification import train
    start = time.time()
    arguments.check_at_least(args, 1, "epochs", "input_size", "batch_size", "train_per_class",
                             "val_per_class", "threads")
    usable_contexts(args.devices)
    data_dir = args.data_dir or os.path.join(args.out, "data")
    given = train_settings(args, data_dir)
    cfg = build(given)
    images = len(demo_data.KINDS) * args.train_per_class
    if images < cfg.total_batch_size:
        raise UsageError("%d training images cannot fill one batch of %d; raise --train-per-class "
                         "or lower --batch-size" % (images, cfg.total_batch_size))

    RunFolder(args.out).claim("--out", overwrite=args.overwrite)
    demo_data.make_demo_data(data_dir, train_per_class=args.train_per_class,
                             val_per_class=args.val_per_class, overwrite=args.overwrite)
    code = train(cfg)
    if code:
        return code
    note = "the built-in demo set: %d training / %d validation images of drawn shapes and textures" % (
        images, len(demo_data.KINDS) * args.val_per_class)
    command = train_command(given)
    path = write_report(args.out, TABLE6_RESNET50D_MIXUP, note, cfg.classes,
                        wall_seconds=time.time() - start, command=command)
    print("demo finished in %.0f s; report: %s" % (time.time() - start, path))
    return 0
