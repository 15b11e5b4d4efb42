"""What ``detect`` and ``segment`` share on the command line: the common options, and turning
them into a run (devices, run folder, the task, the loop)."""
import json
import os

from ..commands import arguments
from ..data import imagesize
from ..devices import parse as parse_devices, usable_contexts
from ..errors import UsageError
from ..options import MAX_PARALLEL
from ..seeds import epoch_seed, seed_everything
from . import loop


def add_common_arguments(p, backbones, root_help, epochs, lr, wd, save_dir):
    """The options both §6 commands take, with each task's defaults."""
    p.add_argument("--data-root", required=True, metavar="DIR", help=root_help)
    p.add_argument("--backbone", default="resnet50_v1d", choices=backbones, metavar="NAME",
                   help="backbone network (default resnet50_v1d; Table 8-9 also use resnet50_v1b)")
    p.add_argument("--backbone-params", required=True, metavar="PATH",
                   help="ImageNet weights: a .params file (GluonCV zoo or ours), a checkpoint "
                        "directory or a run folder (its checkpoints/best); the classifier is ignored")
    p.add_argument("--num-epochs", type=int, default=epochs, help="default %(default)s")
    p.add_argument("--batches-per-epoch", type=int, default=0, metavar="N",
                   help="updates per epoch (default: the whole training set)")
    p.add_argument("--lr", type=float, default=lr, help="learning rate (default %(default)s)")
    p.add_argument("--wd", type=float, default=wd, help="weight decay (default %(default)s)")
    arguments.add_devices(p)
    p.add_argument("-j", "--num-workers", type=int, default=4, metavar="N",
                   help="data loading processes (default 4; 0 loads in the main process)")
    p.add_argument("--save-dir", default=save_dir, metavar="DIR",
                   help="run folder (default %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --save-dir from its latest epoch checkpoint")
    p.add_argument("--log-interval", type=int, default=20, metavar="N",
                   help="progress line every N updates (default 20)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the heads' initialisation and of each epoch's random draws "
                        "(default 0); with -j 0 a run repeats bit for bit, resumed or not")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved settings as JSON and exit (no data or weights read)")
    imagesize.add_argument(p)


def start(args, extra, check_data, make_task):
    """Check the common options, then (unless --print-config) the data with ``check_data()``,
    open the run folder, build the task with ``make_task(config, contexts)`` and train it;
    returns the last evaluation, or None after --print-config."""
    devices = parse_devices(args.devices)[0]
    for flag, value, low in (("--num-epochs", args.num_epochs, 1),
                             ("--batches-per-epoch", args.batches_per_epoch, 0),
                             ("-j", args.num_workers, 0), ("--log-interval", args.log_interval, 1),
                             ("--seed", args.seed, 0)):
        if value < low:
            raise UsageError("%s must be ≥ %d, got %d" % (flag, low, value))
    if args.num_workers > MAX_PARALLEL:
        raise UsageError("-j must be at most %d, got %d" % (MAX_PARALLEL, args.num_workers))
    if args.lr <= 0 or args.wd < 0:
        raise UsageError("--lr must be > 0 and --wd ≥ 0")
    config = dict(extra, backbone=args.backbone, backbone_params=args.backbone_params,
                  data_root=os.path.abspath(args.data_root), num_epochs=args.num_epochs,
                  batches_per_epoch=args.batches_per_epoch, lr=args.lr, wd=args.wd,
                  momentum=0.9, devices=devices, num_workers=args.num_workers,
                  save_dir=args.save_dir, log_interval=args.log_interval, seed=args.seed)
    if args.print_config:
        print(json.dumps(config, indent=1, sort_keys=True))
        return None
    contexts, _ = usable_contexts(devices)
    check_data()
    seed_everything(epoch_seed(args.seed, -1, 0))
    task, loaded = make_task(config, contexts)
    print("backbone %s from %s (classifier ignored: %s)"
          % (args.backbone, loaded.path, ", ".join(loaded.ignored) or "none in the file"))
    full = task.updates_per_epoch
    if not full:
        raise UsageError("the training set of %s is smaller than one batch; add images or use "
                         "fewer devices" % args.data_root)
    config["batches_per_epoch"] = min(args.batches_per_epoch or full, full)
    resume_from = loop.open_run(args.save_dir, config, args.resume)
    return loop.fit(task, config, resume_from)
