"""Argument groups several commands share, each declared once with one help text: the devices,
a record file and its index, a network with its weights, and the decoding threads."""
import argparse

from .. import devices, options
from ..data import backends
from ..data.recordfile import index_path
from ..errors import UsageError
from ..models import list_models
from ..weights import find_source


class _DevicesAction(argparse.Action):
    """``--gpus IDS``, ``--cpus N`` and GluonCV's ``--num-gpus N`` all set ``devices``; the
    last one given wins, like any other repeated flag."""

    def __call__(self, parser, namespace, value, option_string=None):
        if option_string == "--gpus":
            text = "gpu:%s" % value
        elif option_string == "--cpus":
            text = "cpu:%d" % value
        elif not 0 <= value <= devices.MAX_DEVICES:
            parser.error("--num-gpus must be between 0 and %d, got %d"
                         % (devices.MAX_DEVICES, value))
        else:           # GluonCV: N GPUs numbered 0..N-1, the CPU when N is 0
            text = "gpu:" + ",".join(map(str, range(value))) if value else devices.DEFAULT
        setattr(namespace, self.dest, text)


def add_devices(parser, default=devices.DEFAULT, group=None):
    """``--gpus``/``--cpus``/``--num-gpus`` into ``args.devices`` (a devices text), in
    ``group`` if given, else in a new "devices" group of ``parser``."""
    group = group or parser.add_argument_group("devices")
    group.add_argument("--gpus", dest="devices", action=_DevicesAction, default=default,
                       metavar="IDS", help="GPU ids, e.g. 0,1,2,3")
    # The default sits on --gpus alone: argparse would convert a text default with int().
    group.add_argument("--cpus", dest="devices", action=_DevicesAction, type=int,
                       default=argparse.SUPPRESS, metavar="N",
                       help="number of CPU contexts (default: 1 CPU)")
    group.add_argument("--num-gpus", dest="devices", action=_DevicesAction, type=int,
                       default=argparse.SUPPRESS, metavar="N",
                       help="GluonCV's flag: GPUs 0..N-1 (0: the CPU); the last device flag wins")
    return group


def add_threads(parser, default=4):
    options.unobservable(
        parser.add_argument("-j", "--threads", "--num-data-workers", dest="threads", type=int,
                            default=default, metavar="N",
                            help="decoding threads (default %d)" % default),
        "speed only: the images decoded are the same with any thread count")


def add_data_backend(parser, default="rec", default_text=None):
    """``--data-backend``: the reader of the record files (``data/backends.py``)."""
    parser.add_argument("--data-backend", choices=backends.RECORDS, default=default,
                        help="rec: MXNet's ImageRecordIter; dali-cpu / dali-gpu: NVIDIA DALI on "
                             "CPU threads / on the GPUs (default %s)" % (default_text or default))


def check_at_least(args, minimum, *dests):
    """A one-line UsageError naming the first option among ``dests`` whose value is below
    ``minimum`` ("--batch-size must be ≥ 1, got 0")."""
    for dest in dests:
        value = getattr(args, dest)
        if value < minimum:
            raise UsageError("--%s must be ≥ %d, got %d" % (dest.replace("_", "-"), minimum, value))


def add_scoring_batches(parser, limit_help):
    """``--batch-size`` (per device) and ``--limit-batches N`` of a command that scores models
    on a validation set; :func:`check_scoring_batches` checks them."""
    parser.add_argument("--batch-size", type=int, default=32, metavar="B",
                        help="images per device (default 32)")
    parser.add_argument("--limit-batches", type=int, default=0, metavar="N", help=limit_help)


def check_scoring_batches(args):
    check_at_least(args, 1, "batch_size")
    check_at_least(args, 0, "limit_batches")


def add_records(parser, help, required=True):
    """``--rec FILE`` and ``--idx FILE``; :func:`record_paths` reads them back."""
    parser.add_argument("--rec", required=required, metavar="FILE", help=help)
    parser.add_argument("--idx", metavar="FILE", help="its index (default: FILE with .idx)")


def record_paths(args, rec=None):
    """(rec, idx) of ``--rec``/``--idx`` (or of ``rec`` when given), the index defaulting to
    the ``.idx`` beside the record file."""
    rec = rec or args.rec
    return rec, index_path(rec, args.idx)


def add_model(parser, required=True, default=None, help=None):
    parser.add_argument("--model", required=required, default=default, metavar="NAME",
                        help=help or "network name: %s" % ", ".join(list_models()))


def add_weights(parser, size_help="input side"):
    """The weights (``PATH`` or ``--params``, ``--checkpoint``) and what they are (``--model``,
    ``--classes``, ``--input-size``) of a command that loads a trained network; read back with
    :func:`weights_source`."""
    parser.add_argument("source", nargs="?", metavar="PATH",
                        help="a .params file (GluonCV zoo file or a checkpoint's model.params), a "
                             "checkpoint directory, or a run folder (its config.json and best "
                             "checkpoint)")
    parser.add_argument("--params", "--params-file", dest="params", metavar="PATH",
                        help="the same as PATH (--params-file: GluonCV's name)")
    parser.add_argument("--checkpoint", metavar="NAME",
                        help="checkpoint of a run folder: best (default), latest, epoch-0003, ...")
    add_model(parser, required=False,
              help="network (default: the run's config.json, or the zoo file name): %s"
                   % ", ".join(list_models()))
    parser.add_argument("--classes", type=int, default=0, metavar="K",
                        help="output classes (default: the run's, else the rows of the file's "
                             "classifier)")
    parser.add_argument("--input-size", type=int, default=0, metavar="S",
                        help="%s (default: the run's, else 299 for inceptionv3, 224 for the "
                             "others)" % size_help)


def weights_source(args):
    """The :class:`gluon_tricks.weights.Source` of the arguments :func:`add_weights` declared."""
    if bool(args.source) == bool(args.params):
        raise UsageError("give the weights once: PATH or --params PATH (a zoo file, a "
                         "checkpoint or a run folder)")
    return find_source(args.source or args.params, args.model, args.classes, args.input_size,
                       args.checkpoint)


def add_config_flags(parser, recomputed=""):
    """``--print-config`` and ``--config FILE``, the round trip of a command's declared options;
    ``recomputed`` names what the command computes again from a file's values."""
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration as JSON and exit (no data or "
                             "weights read)")
    parser.add_argument("--config", metavar="FILE",
                        help="settings from FILE: what --print-config printed, or a run's "
                             "config.json (JSON; YAML if named .yaml/.yml); flags given with it "
                             "win%s; where the run writes, --resume, --overwrite and "
                             "--max-image-pixels come from flags only" % recomputed)
