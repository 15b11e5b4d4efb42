"""``gluon-tricks train``: the parser is generated from TrainConfig's fields (flags named after
GluonCV's train_imagenet.py), plus the shared device flags and GluonCV's other flags."""
import os

from .. import configfile, options
from ..config import TrainConfig, build, resumed_config
from ..data import imagesize
from . import arguments, gluoncv

NAME = "train"
HELP = "train a network with the paper's tricks (--recipe tableN/row for a paper row)"


def configure(p):
    groups = options.add_arguments(p, TrainConfig)
    arguments.add_devices(p, default=None, group=groups.get("devices"))
    imagesize.add_argument(groups["data"], default=None)
    gluoncv.add_arguments(p)
    arguments.add_config_flags(p, ", and totals (batch, lr under --lr-per-256, devices) are "
                                  "computed again")


def config_from_args(args, env=os.environ):
    """The resolved TrainConfig for parsed ``args``."""
    given = options.given(args, TrainConfig)
    for name in ("devices", "max_image_pixels"):    # flags shared with other commands
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    given = gluoncv.translate(args, given)
    if args.config:
        given = configfile.merged(args.config, given, TrainConfig)
    return resumed_config(given, env) if given.get("resume") else build(given, env)


def run(args):
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_json())
        return 0
    from ..classification import train
    return train(cfg)
