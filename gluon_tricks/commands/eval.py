"""``gluon-tricks eval``: validation top-1/top-5 (paper §2.1) of a zoo file or one of our checkpoints."""
from ..data.record import check_inputs, val_iter
from ..devices import usable_contexts
from ..errors import UsageError
from ..evaluate import evaluate
from ..precision import DTYPES
from ..weights import checked_input_size, load_model
from . import arguments

NAME = "eval"
HELP = ("top-1/top-5 and img/s of a model on a validation .rec (resize to S/0.875, center crop S), "
        "from a GluonCV zoo .params file, a checkpoint or a run folder")


def configure(p):
    arguments.add_weights(p, size_help="center crop side")
    arguments.add_records(p, "validation RecordIO file")
    p.add_argument("--batch-size", type=int, default=32, metavar="B", help="images per device (default 32)")
    arguments.add_devices(p)
    arguments.add_threads(p)
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="float16 casts the network (BatchNorm keeps float32 parameters)")


def run(args):
    size = checked_input_size(args.model, args.classes, args.input_size)
    contexts, devices = usable_contexts(args.devices)
    if args.dtype == "float16" and devices.startswith("cpu"):
        raise UsageError("--dtype float16 needs --gpus: MXNet has no FP16 matrix multiply on CPU")
    _, idx = arguments.record_paths(args)
    batch = args.batch_size * len(contexts)
    check_inputs(args.rec, idx, batch, size, args.threads)
    loaded = load_model(args.model, args.params, classes=args.classes or None, ctx=contexts)
    net = loaded.net
    if args.dtype == "float16":
        net.cast("float16")
    net.hybridize(static_alloc=True, static_shape=True)
    result = evaluate(net, val_iter(args.rec, idx, batch, size, threads=args.threads),
                      contexts, args.dtype)
    images = result["images"]
    print("model   %s, %d classes, %d×%d crop, %s on %s" % (args.model, loaded.classes, size,
                                                            size, args.dtype, devices))
    print("params  %s" % loaded.path)
    print("data    %s: %d images" % (args.rec, images))
    for k in ("1", "5"):
        fraction = result["top" + k]
        print("top-%s   %.2f%% (%d/%d)" % (k, 100 * fraction, round(fraction * images), images))
    print("speed   %.1f img/s (%.1f s)" % (result["img_per_sec"], result["seconds"]))
    return 0

