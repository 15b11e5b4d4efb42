"""``gluon-tricks flops``: parameters and multiply-accumulates per model (paper Table 5)."""
from ..flops import model_cost
from ..models import check_model, default_input_size, list_models
from . import arguments

NAME = "flops"
HELP = "print parameter count and multiply-accumulates of models (paper Table 5)"


def configure(parser):
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="model name(s), e.g. resnet50_v1d; one of: %s" % ", ".join(list_models()))
    parser.add_argument("--size", type=int, default=None,
                        help="input side in pixels (default: 299 for inceptionv3, else 224)")
    parser.add_argument("--classes", type=int, default=1000, help="number of output classes")


def run(args):
    for model in args.models:
        check_model(model)
    if args.size is not None:
        arguments.check_at_least(args, 1, "size")
    arguments.check_at_least(args, 1, "classes")
    rows = [model_cost(m, args.size or default_input_size(m), args.classes) for m in args.models]
    print("%-16s %6s %12s %10s" % ("model", "size", "params (M)", "MACs (G)"))
    for row in rows:
        print("%-16s %6d %12.2f %10.2f" % (row.model, row.input_size, row.params / 1e6, row.macs / 1e9))
    return 0
