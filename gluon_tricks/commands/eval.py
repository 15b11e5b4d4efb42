"""``gluon-tricks eval``: validation top-1/top-5 (paper §2.1) of a zoo file, a checkpoint or a run.

A run folder brings its network, classes, input size and validation records (its config.json)
and its ``best`` checkpoint; a zoo file name brings its network. GluonCV's
``verify_pretrained.py`` flags are accepted where they mean the same: ``--params-file``,
``--rec-dir``, ``--num-gpus``, ``-j/--num-data-workers``, ``--batch-size``, ``--dtype``.
"""
import os

from .. import options
from ..data import backends, imagesize
from ..data.recorditer import check_inputs
from ..data.recordfile import check_decodable, index_path
from ..devices import usable_contexts
from ..errors import UsageError
from ..evaluate import evaluate
from ..precision import DTYPES, check_device
from ..weights import load_model
from . import arguments

NAME = "eval"
HELP = ("top-1/top-5 and img/s of a model on a validation .rec (resize to S/0.875, center crop S), "
        "from a GluonCV zoo .params file, a checkpoint or a run folder")


def configure(p):
    arguments.add_weights(p, size_help="center crop side")
    p.add_argument("--rec", metavar="FILE",
                   help="validation RecordIO file (default: the run's validation records)")
    p.add_argument("--rec-dir", metavar="DIR", help="folder holding val.rec and val.idx")
    p.add_argument("--idx", metavar="FILE", help="its index (default: FILE with .idx)")
    options.unobservable(
        p.add_argument("--batch-size", type=int, default=32, metavar="B",
                       help="images per device (default 32)"),
        "speed only: every image is scored once, padding left out, with any batch size")
    arguments.add_devices(p)
    arguments.add_threads(p)
    imagesize.add_argument(p)
    arguments.add_data_backend(p, default=None, default_text="the run's, else rec")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="float16 casts the network (BatchNorm keeps float32 parameters)")


def validation_records(args, config):
    """(rec, idx) from --rec/--idx, --rec-dir, or the run's config, in that order."""
    if args.rec and args.rec_dir:
        raise UsageError("give either --rec FILE or --rec-dir DIR, not both")
    rec = args.rec or (args.rec_dir and os.path.join(args.rec_dir, "val.rec"))
    idx = args.idx
    if not rec and config and config.get("rec_val"):
        rec, idx = config["rec_val"], idx or config.get("rec_val_idx")
    if not rec:
        raise UsageError("no validation data: pass --rec FILE or --rec-dir DIR (holding val.rec "
                         "and val.idx)")
    return rec, index_path(rec, idx)


def data_backend(config):
    """The reader a run validated with (rec for a zoo file, a synthetic run or an older one)."""
    backend = (config or {}).get("data_backend")
    return backend if backend in backends.RECORDS else "rec"


def run(args):
    contexts, devices = usable_contexts(args.devices)
    source = arguments.weights_source(args)
    check_device(args.dtype, devices)
    rec, idx = validation_records(args, source.config)
    backend = args.data_backend or data_backend(source.config)
    backends.check(backend, contexts)
    batch = args.batch_size * len(contexts)
    size = source.input_size
    check_inputs(rec, idx, batch, size, args.threads)
    check_decodable(rec, idx, args.threads, args.max_image_pixels)
    loaded = load_model(source.model, source.params, classes=source.classes, ctx=contexts)
    net = loaded.net
    if args.dtype == "float16":
        net.cast("float16")
    net.hybridize(static_alloc=True, static_shape=True)
    result = evaluate(net, backends.val_batches(backend, rec, idx, batch, size, args.threads,
                                                contexts), contexts, args.dtype)
    images = result["images"]
    print("model   %s, %d classes, %d×%d crop, %s on %s" % (source.model, loaded.classes, size,
                                                            size, args.dtype, devices))
    print("params  %s" % loaded.path)
    print("data    %s: %d images (%s)" % (rec, images, backend))
    for k in ("1", "5"):
        fraction = result["top" + k]
        print("top-%s   %.2f%% (%d/%d)" % (k, 100 * fraction, round(fraction * images), images))
    print("speed   %.1f img/s (%.1f s)" % (result["img_per_sec"], result["seconds"]))
    return 0
