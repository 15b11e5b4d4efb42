"""``gluon-tricks eval``: validation top-1/top-5 (paper §2.1) of a zoo file or one of our checkpoints."""
import os

from ..config import DTYPES
from ..data.record import check_inputs, val_iter
from ..errors import UsageError
from ..evaluate import evaluate
from ..models import list_models
from ..weights import checked_input_size, load_model
from ..zoo import device_contexts

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


def run(args):
    size = checked_input_size(args.model, args.classes, args.input_size)
    contexts, devices = device_contexts(args.gpus, args.cpus)
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

