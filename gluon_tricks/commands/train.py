"""``gluon-tricks train``: the parser is generated from TrainConfig's fields (flags named after
GluonCV's train_imagenet.py), plus the shared device flags and GluonCV's other flags."""
import dataclasses
import os

from .. import checkpoint, configfile, logfile, options, textfile
from ..config import NOT_SAVED, TrainConfig, build, resolve
from ..data import imagesize
from ..errors import UsageError
from . import arguments, gluoncv

NAME = "train"
HELP = "train a network with the paper's tricks (--recipe tableN/row for a paper row)"


def configure(p):
    groups = options.add_arguments(p, TrainConfig)
    arguments.add_devices(p, default=None, group=groups.get("devices"))
    imagesize.add_argument(groups["data"], default=None)
    gluoncv.add_arguments(p)
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as JSON and exit")
    p.add_argument("--config", metavar="FILE",
                   help="settings from FILE: what --print-config printed, or a run's config.json "
                        "(JSON; YAML if named .yaml/.yml); flags given with it win, and totals "
                        "(batch, lr under --lr-per-256, devices) are computed again; where the "
                        "run writes, --resume, --overwrite and --max-image-pixels come from flags "
                        "only")


def config_from_args(args, env=os.environ):
    """The resolved TrainConfig for parsed ``args``."""
    given = options.given(args, TrainConfig)
    for name in ("devices", "max_image_pixels"):    # flags shared with other commands
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    given = gluoncv.translate(args, given)
    if args.config:
        given = configfile.merged(args.config, given)
    return resumed_config(given, env) if given.get("resume") else build(given, env)


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
    return textfile.load_json(path, "the run's %s" % path)


def moved_paths(given):
    """The saved record paths a resume with the flags ``given`` finds again, as a new run
    would: all four in a new ``--data-dir`` (unless typed one by one), an index beside a new
    record file (unless typed)."""
    names = []
    for split in ("train", "val"):
        rec, idx = "rec_" + split, "rec_%s_idx" % split
        if "data_dir" in given and rec not in given:
            names.append(rec)
        if (rec in names or rec in given) and idx not in given:
            names.append(idx)
    return names


def resumed_config(given, env=os.environ):
    """``--resume DIR``: DIR's saved configuration under the flags this command line gives; the
    run stays in DIR. Whether a change is allowed is decided by ``config.check_resume`` when the
    checkpoint is loaded; a saved --logging-file outside DIR must be typed again; the record
    files follow a new --data-dir or record file (:func:`moved_paths`)."""
    run_dir = given["resume"]
    if "save_dir" in given and os.path.abspath(given["save_dir"]) != os.path.abspath(run_dir):
        raise UsageError("--resume %s continues that run in its own folder; leave out --save-dir %s"
                         % (run_dir, given["save_dir"]))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    stale = moved_paths(given)
    values = {k: v for k, v in saved_run_config(run_dir).items()
              if k in fields and k not in NOT_SAVED and k not in stale}
    values.update(given, save_dir=run_dir, resume=run_dir)
    cfg = resolve(TrainConfig(**values), env)
    if "logging_file" not in given:
        logfile.check_inside(cfg.log_path, run_dir)
    return cfg


def run(args):
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_json())
        return 0
    from ..train import train
    return train(cfg)
