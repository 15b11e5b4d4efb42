"""``gluon-tricks train``: flags named after GluonCV's train_imagenet.py, filled into TrainConfig."""
import dataclasses
import json
import os

from .. import checkpoint
from ..cli import OneLineParser
from ..config import (AUGS, DATA_BACKENDS, DTYPES, KVSTORES, MIXUP_PAIRINGS, SMOOTHING_STYLES,
                      TrainConfig, parse_devices, resolve)
from ..errors import UsageError
from ..lr_scheduler import MODES as LR_MODES
from ..models.init import INITS

NAME = "train"
HELP = "train a network with the paper's tricks (see recipes/ for every table row)"

D = TrainConfig()


def _epochs(text):
    return [int(e) for e in text.split(",") if e.strip()]


def configure(p):
    g = p.add_argument_group("model")
    g.add_argument("--model", default=D.model, help="network name (gluon-tricks flops --help lists them)")
    g.add_argument("--classes", type=int, default=0,
                   help="output classes (default: from the .classes file beside train.rec, else 1000)")
    g.add_argument("--input-size", type=int, default=None,
                   help="training crop side (default 299 for inceptionv3, else 224)")
    g.add_argument("--last-gamma", action="store_true", help="zero γ in each residual block's last BN (§3.2)")
    g.add_argument("--init", choices=INITS, default=D.init,
                   help="xavier: the paper's (§2.1); msra: GluonCV's train_imagenet.py")
    g.add_argument("--dtype", choices=DTYPES, default=D.dtype, help="float16: FP16 with FP32 master weights (§3.2)")
    g.add_argument("--loss-scale", default=D.loss_scale,
                   help="FP16 loss scale: 'dynamic' (default) or a fixed number")

    g = p.add_argument_group("optimisation")
    g.add_argument("--num-epochs", type=int, default=D.num_epochs)
    g.add_argument("--batch-size", type=int, default=D.batch_size, help="images per device per step")
    g.add_argument("--lr", type=float, default=D.lr, help="learning rate of the whole job's batch")
    g.add_argument("--lr-per-256", type=float, default=None,
                   help="linear scaling rule (§3.1): lr = value × total batch / 256 (overrides --lr)")
    g.add_argument("--lr-mode", choices=LR_MODES, default=D.lr_mode)
    g.add_argument("--lr-decay", type=float, default=D.lr_decay, help="step schedule factor")
    g.add_argument("--lr-decay-epoch", type=_epochs, default=D.lr_decay_epochs,
                   help="step schedule epochs, e.g. 30,60,90")
    g.add_argument("--warmup-epochs", type=int, default=D.warmup_epochs, help="linear warmup (§3.1)")
    g.add_argument("--momentum", type=float, default=D.momentum)
    g.add_argument("--wd", type=float, default=D.wd)
    g.add_argument("--no-wd", action="store_true",
                   help="no bias decay (§3.2): weight decay on conv and dense weights only")

    g = p.add_argument_group("refinements (§5)")
    g.add_argument("--label-smoothing", type=float, nargs="?", const=0.1, default=0.0, metavar="EPS",
                   help="label smoothing ε (bare flag: 0.1, eq. 4)")
    g.add_argument("--smoothing-style", choices=SMOOTHING_STYLES, default=D.smoothing_style,
                   help="paper: on 1−ε, off ε/(K−1); gluoncv: on 1−ε+ε/K, off ε/K")
    g.add_argument("--mixup", action="store_true", help="mixup training (§5.4)")
    g.add_argument("--mixup-alpha", type=float, default=0.2, help="Beta(α, α) of mixup")
    g.add_argument("--mixup-off-epoch", type=int, default=0, help="train the last N epochs without mixup")
    g.add_argument("--mixup-pairing", choices=MIXUP_PAIRINGS, default=D.mixup_pairing,
                   help="mix each image with the reversed batch (GluonCV) or a random permutation")
    g.add_argument("--teacher", default=None, help="teacher model name for distillation (§5.3)")
    g.add_argument("--teacher-params", default=None, help="teacher weights (.params)")
    g.add_argument("--temperature", type=float, default=D.temperature, help="distillation T (eq. 6)")
    g.add_argument("--hard-weight", type=float, default=None,
                   help="GluonCV weighting (1−hw)·T²·soft + hw·hard; default: eq. 6 unweighted")

    g = p.add_argument_group("data")
    g.add_argument("--data-dir", default=None, help="folder with train.rec/.idx and val.rec/.idx")
    for split in ("train", "val"):
        g.add_argument("--rec-%s" % split, default=None, help="%s .rec (GluonCV's flag)" % split)
        g.add_argument("--rec-%s-idx" % split, default=None, help="%s .idx (GluonCV's flag)" % split)
    g.add_argument("--data-backend", choices=DATA_BACKENDS, default=D.data_backend,
                   help="synthetic: random tensors at the real shape, to time the model alone")
    g.add_argument("--aug", choices=AUGS, default=D.aug,
                   help="paper: §2.1 steps 1-6; gluoncv: GluonCV's ImageRecordIter settings")
    g.add_argument("--aug-device", action="store_true",
                   help="run colour, PCA noise and normalisation on the training device")
    g.add_argument("-j", "--threads", type=int, default=D.threads, help="decoding threads")
    g.add_argument("--batches-per-epoch", type=int, default=0,
                   help="cap on steps per epoch (0: a full pass), for smoke runs")

    g = p.add_argument_group("devices and distribution")
    g.add_argument("--gpus", default=None, help="GPU ids, e.g. 0,1,2,3")
    g.add_argument("--cpus", type=int, default=None, help="number of CPU contexts (default 1)")
    g.add_argument("--kvstore", choices=KVSTORES, default=D.kvstore,
                   help="device/local/nccl in one process; dist_* under 'gluon-tricks launch'; "
                        "horovod under horovodrun")

    g = p.add_argument_group("output")
    g.add_argument("--save-dir", default=D.save_dir, help="run folder: metrics, checkpoints, plots")
    g.add_argument("--save-frequency", type=int, default=D.save_frequency,
                   help="keep every N-th epoch's checkpoint for good (every epoch is saved)")
    g.add_argument("--keep-last", type=int, default=D.keep_last,
                   help="how many of the newest epoch checkpoints to keep besides those and best")
    g.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run in DIR from its newest checkpoint, with its saved "
                        "configuration (no other flags needed)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --save-dir (refused otherwise)")
    g.add_argument("--log-interval", type=int, default=D.log_interval, help="progress line every N batches")
    g.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    g.add_argument("--seed", type=int, default=D.seed)
    g.add_argument("--print-config", action="store_true", help="print the resolved configuration as JSON and exit")


def config_from_args(args, env=os.environ):
    """The resolved TrainConfig for parsed ``args``."""
    devices, num_devices = parse_devices(args.gpus, args.cpus)
    cfg = TrainConfig(
        model=args.model, classes=args.classes, input_size=args.input_size,
        num_epochs=args.num_epochs, batch_size=args.batch_size, devices=devices,
        num_devices=num_devices, lr=args.lr, lr_per_256=args.lr_per_256, lr_mode=args.lr_mode,
        warmup_epochs=args.warmup_epochs, lr_decay_epochs=list(args.lr_decay_epoch),
        lr_decay=args.lr_decay, momentum=args.momentum, wd=args.wd, no_wd=args.no_wd,
        last_gamma=args.last_gamma, label_smoothing=args.label_smoothing,
        smoothing_style=args.smoothing_style,
        mixup_alpha=args.mixup_alpha if args.mixup else 0.0,
        mixup_off_epoch=args.mixup_off_epoch, mixup_pairing=args.mixup_pairing,
        teacher=args.teacher, teacher_params=args.teacher_params,
        temperature=args.temperature, hard_weight=args.hard_weight, dtype=args.dtype,
        loss_scale=str(args.loss_scale), kvstore=args.kvstore, aug=args.aug,
        aug_device=args.aug_device, init=args.init, data_backend=args.data_backend,
        data_dir=args.data_dir, rec_train=args.rec_train, rec_train_idx=args.rec_train_idx,
        rec_val=args.rec_val, rec_val_idx=args.rec_val_idx, threads=args.threads,
        batches_per_epoch=args.batches_per_epoch, save_dir=args.save_dir,
        save_frequency=args.save_frequency, keep_last=args.keep_last, overwrite=args.overwrite,
        resume=args.resume, log_interval=args.log_interval, seed=args.seed,
        tensorboard=args.tensorboard)
    if args.mixup and not args.mixup_alpha > 0:
        raise UsageError("--mixup-alpha must be > 0 with --mixup, got %r" % args.mixup_alpha)
    cfg = resolve(cfg, env)
    return resumed_config(args.resume, cfg, env) if args.resume else cfg


def saved_run_config(run_dir):
    """The configuration a run folder was trained with: its newest checkpoint's, else its
    config.json (a run stopped before its first checkpoint)."""
    if not os.path.isdir(run_dir):
        raise UsageError("--resume %s: no such folder; --resume takes the folder of an earlier "
                         "run (its --save-dir)" % run_dir)
    newest = checkpoint.newest(os.path.join(run_dir, "checkpoints"))
    if newest is not None:
        return checkpoint.read_state(newest)["config"]
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise UsageError("--resume %s: no run there (no config.json, no checkpoint); start a new "
                         "run with --save-dir %s" % (run_dir, run_dir))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resumed_config(run_dir, cfg, env):
    """``--resume DIR``: DIR's saved configuration, with whatever this command line changes
    (flags left at their defaults are not changes); the run stays in DIR. Whether a change is
    allowed is decided by ``config.check_resume`` when the checkpoint is loaded."""
    parser = OneLineParser()
    configure(parser)
    defaults = config_from_args(parser.parse_args([]), env).to_dict()
    asked = cfg.to_dict()
    if asked["save_dir"] != defaults["save_dir"] and \
            os.path.abspath(asked["save_dir"]) != os.path.abspath(run_dir):
        raise UsageError("--resume %s continues that run in its own folder; leave out --save-dir %s"
                         % (run_dir, asked["save_dir"]))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    merged = {k: v for k, v in saved_run_config(run_dir).items() if k in fields}
    merged.update({k: v for k, v in asked.items() if v != defaults[k]})
    merged.update(save_dir=run_dir, resume=run_dir)
    return TrainConfig(**merged)


def run(args):
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_json())
        return 0
    from ..train import train
    return train(cfg)
