"""What ``detect`` and ``segment`` share on the command line: the parser generated from the
task's config class, the config from the flags (``--config FILE``, ``--resume DIR`` alone), and
starting the run (as ``train``: the folder claimed, the checkpoint checked, then training)."""
from .. import configfile, options
from ..data import imagesize
from ..devices import usable_contexts
from ..runcore import loop
from ..runcore.resume import resumed_values
from ..transfer.config import resolve
from . import arguments


def configure(p, cls):
    """The options of config class ``cls`` (a DetectConfig or SegmentConfig)."""
    groups = options.add_arguments(p, cls)
    arguments.add_devices(p, default=None)
    imagesize.add_argument(groups["data"], default=None)
    arguments.add_config_flags(p)


def config_from_args(args, cls):
    """The resolved ``cls`` config of parsed ``args``."""
    given = options.given(args, cls)
    for name in ("devices", "max_image_pixels"):    # flags shared with other commands
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.config:
        given = configfile.merged(args.config, given, cls)
    return resolve(cls(**(resumed_values(given, cls) if given.get("resume") else given)))


def run(args, cls, check_data, task):
    """Check the options, then (unless --print-config) the data with ``check_data(cfg)`` and
    train ``task(cfg, contexts, resume_from)``; returns the config and the last evaluation (None
    after --print-config or when no epoch was left)."""
    cfg = config_from_args(args, cls)
    if args.print_config:
        print(cfg.to_json())
        return cfg, None
    contexts, _ = usable_contexts(cfg.devices)
    check_data(cfg)
    return cfg, loop.start(cfg, lambda resume_from: task(cfg, contexts, resume_from))
