"""``gluon-tricks train``: the parser is generated from TrainConfig's fields (flags named after
GluonCV's train_imagenet.py), plus the shared device flags and GluonCV's other flags."""
import os

from .. import configfile, options
from ..config import TrainConfig, build
from . import arguments, gluoncv

NAME = "train"
HELP = "train a network with the paper's tricks (--recipe tableN/row for a paper row)"


def configure(p):
    groups = options.add_arguments(p, TrainConfig)
    arguments.add_devices(p, default=None, group=groups.get("devices"))
    gluoncv.add_arguments(p)
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as JSON and exit")
    p.add_argument("--config", metavar="FILE",
                   help="settings from FILE: what --print-config printed, or a run's config.json "
                        "(JSON; YAML if named .yaml/.yml); flags given with it win, and totals "
                        "(batch, lr under --lr-per-256, devices) are computed again")


def config_from_args(args, env=os.environ):
    """The resolved TrainConfig for parsed ``args``."""
    given = options.given(args, TrainConfig)
    if args.devices is not None:
        given["devices"] = args.devices
    given = gluoncv.translate(args, given)
    if args.config:
        given = configfile.merge(configfile.read(args.config), given)
    return build(given, env)


def run(args):
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg.to_json())
        return 0
    from ..train import train
    return train(cfg)
