"""``gluon-tricks eval``: validation top-1/top-5 (paper §2.1) of a zoo file or one of our checkpoints."""
import os

import mxnet as mx

from ..config import DTYPES, parse_devices
from ..data.record import check_inputs, val_iter
from ..errors import UsageError
from ..evaluate import evaluate
from ..models import check_input_size, default_input_size, list_models
from ..weights import load_model

NAME = "eval"
HELP = ("top-1/top-5 and img/s of a model on a validation .rec (resize to S/0.875, center crop S), "
        "from a GluonCV zoo .params file, a checkpoint or a run folder")


def configure(p):
    p.add_argument("--model", required=True, metavar="NAME",
                   help="network name: %s" % ", ".join(list_models()))
    p.add_argument("--params", required=True, metavar="PATH",
                   help="a .params file (GluonCV zoo or a checkpoint's model.params), a checkpoint "
                        "directory, or a run folder (its newest epoch checkpoint)")
    p.add_argument("--rec", required=True, metavar="FILE", help="validation RecordIO file")
    p.add_argument("--idx", metavar="FILE", help="its index (default: FILE with .idx)")
    p.add_argument("--input-size", type=int, default=0, metavar="S",
                   help="center crop side (default 299 for inceptionv3, else 224)")
    p.add_argument("--classes", type=int, default=0, metavar="K",
                   help="output classes (default: the rows of the file's classifier weight)")
    p.add_argument("--batch-size", type=int, default=32, metavar="B", help="images per device (default 32)")
    p.add_argument("--gpus", default=None, help="GPU ids, e.g. 0,1")
    p.add_argument("--cpus", type=int, default=None, metavar="N", help="number of CPU contexts (default 1)")
    p.add_argument("-j", "--threads", type=int, default=4, metavar="N", help="decoding threads (default 4)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="float16 casts the network (BatchNorm keeps float32 parameters)")


def contexts_for(gpus, cpus):
    """The MXNet contexts of ``--gpus``/``--cpus``, checking that the GPUs exist."""
    devices, _ = parse_devices(gpus, cpus)
    kind, ids = devices.split(":")
    if kind == "cpu":
        return [mx.cpu(i) for i in range(int(ids))], devices
    try:
        available = mx.context.num_gpus()
    except mx.base.MXNetError:          # a CPU-only build may refuse to count
        available = 0
    ids = [int(i) for i in ids.split(",")]
    if max(ids) >= available:
        raise UsageError("--gpus %s: this machine has %d GPU(s); use --cpus or existing ids"
                         % (gpus, available))
    return [mx.gpu(i) for i in ids], devices


def run(args):
    if args.model not in list_models():
        raise UsageError("unknown model %r; choose one of: %s" % (args.model, ", ".join(list_models())))
    if args.classes < 0:
        raise UsageError("--classes must be a positive integer, got %d" % args.classes)
    size = args.input_size or default_input_size(args.model)
    if size < 32:
        raise UsageError("--input-size must be at least 32 pixels, got %d" % size)
    check_input_size(args.model, size)
    contexts, devices = contexts_for(args.gpus, args.cpus)
    if args.dtype == "float16" and devices.startswith("cpu"):
        raise UsageError("--dtype float16 needs --gpus: MXNet has no FP16 matrix multiply on CPU")
    idx = args.idx or os.path.splitext(args.rec)[0] + ".idx"
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

