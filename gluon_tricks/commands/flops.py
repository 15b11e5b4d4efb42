"""``gluon-tricks flops``: parameters and multiply-accumulates per model (paper Table 5)."""
from ..errors import UsageError, shown
from ..flops import model_cost
from ..models import default_input_size, list_models

NAME = "flops"
HELP = "print parameter count and multiply-accumulates of models (paper Table 5)"


def configure(parser):
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="model name(s), e.g. resnet50_v1d; one of: %s" % ", ".join(list_models()))
    parser.add_argument("--size", type=int, default=None,
                        help="input side in pixels (default: 299 for inceptionv3, else 224)")
    parser.add_argument("--classes", type=int, default=1000, help="number of output classes")


def run(args):
    unknown = [m for m in args.models if m not in list_models()]
    if unknown:
        raise UsageError("unknown model %s; choose from: %s"
                         % (shown(unknown[0], quoted=True), ", ".join(list_models())))
    if args.size is not None and args.size < 1:
        raise UsageError("--size must be a positive number of pixels, got %d" % args.size)
    if args.classes < 1:
        raise UsageError("--classes must be a positive integer, got %d" % args.classes)
    rows = [model_cost(m, args.size or default_input_size(m), args.classes) for m in args.models]
    print("%-16s %6s %12s %10s" % ("model", "size", "params (M)", "MACs (G)"))
    for row in rows:
        print("%-16s %6d %12.2f %10.2f" % (row.model, row.input_size, row.params / 1e6, row.macs / 1e9))
    return 0
