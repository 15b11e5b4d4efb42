"""``gluon-tricks bench``: side-by-side throughput benchmarks, one subcommand per module of
:mod:`gluon_tricks.bench` (each defines HELP and run(args), which measures and prints); their
options are declared and checked here."""
from ..bench import packing, pipelines, training
from ..config import TrainConfig
from ..data import backends
from ..errors import UsageError
from ..precision import DTYPES, check_device
from . import arguments

NAME = "bench"
HELP = ("measure throughput side by side, images per second (bench data, bench train, "
        "bench prepare)")


def data_options(parser):
    arguments.add_records(parser, "the RecordIO file to read")
    parser.add_argument("--threads", type=int, default=4, metavar="N",
                        help="ImageRecordIter and DALI decoding threads, DataLoader workers "
                             "(default 4)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B", help="default 32")
    parser.add_argument("--input-size", type=int, default=224, metavar="S", help="default 224")
    parser.add_argument("--batches", type=int, default=50, metavar="K",
                        help="batches timed per pipeline, after %d warm-up batches (default 50)"
                        % pipelines.WARMUP_BATCHES)


def check_data(args):
    arguments.check_at_least(args, 1, "threads", "batch_size", "input_size", "batches")
    args.rec, args.idx = arguments.record_paths(args)


def train_options(parser):
    arguments.add_records(parser, "training RecordIO file (its .classes file, if any, sets "
                                  "the classes)")
    arguments.add_model(parser, required=False, default="resnet18_v1b",
                        help="network (default resnet18_v1b)")
    parser.add_argument("--input-size", type=int, default=112, metavar="S", help="default 112")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B",
                        help="images per device per step (default 32)")
    parser.add_argument("--steps", type=int, default=30, metavar="K",
                        help="steps per variant per round (default 30)")
    parser.add_argument("--warmup", type=int, default=3, metavar="W",
                        help="untimed steps before each step-row timing (default 3)")
    parser.add_argument("--repeats", type=int, default=3, metavar="R",
                        help="rounds; each round runs every variant once (default 3)")
    arguments.add_threads(parser, default=TrainConfig().threads)
    arguments.add_data_backend(parser, default=backends.DEFAULT)
    arguments.add_devices(parser)
    parser.add_argument("--dtype", choices=DTYPES, default="float32")


def check_train(args):
    arguments.check_at_least(args, 1, "steps", "repeats")
    arguments.check_at_least(args, 0, "warmup")
    check_device(args.dtype, args.devices)
    args.rec, args.idx = arguments.record_paths(args)


def prepare_options(parser):
    parser.add_argument("src", metavar="SRC", help="a class-per-subfolder image folder")
    parser.add_argument("--make", type=int, default=0, metavar="N",
                        help="first write N ImageNet-like JPEGs into SRC (which must not exist): "
                             "shorter side mostly 300–500 px, one in seven 1000–2500 px long")
    parser.add_argument("--resize", type=int, default=256, metavar="N",
                        help="shorter side of the stored images, for both tools (default 256)")
    parser.add_argument("--quality", type=int, default=90, metavar="Q", help="JPEG quality (default 90)")
    parser.add_argument("--threads", type=int, default=2, metavar="N",
                        help="prepare's --threads and im2rec's --num-thread (default 2)")
    parser.add_argument("--repeats", type=int, default=3, metavar="R",
                        help="rounds; each runs every tool once, the order alternating (default 3)")


def check_prepare(args):
    arguments.check_at_least(args, 1, "resize", "threads", "repeats")


# Subcommand: (the module that measures, its options, their checks).
BENCHMARKS = {"data": (pipelines, data_options, check_data),
              "train": (training, train_options, check_train),
              "prepare": (packing, prepare_options, check_prepare)}


def configure(parser):
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK",
                                       parser_class=type(parser))
    for name, (module, options, check) in BENCHMARKS.items():
        sub = benchmarks.add_parser(name, help=module.HELP, description=module.HELP)
        options(sub)
        sub.set_defaults(bench_check=check, bench_run=module.run)


def run(args):
    if not getattr(args, "bench_run", None):
        raise UsageError("choose a benchmark: %s"
                         % ", ".join("`gluon-tricks bench %s`" % name for name in BENCHMARKS))
    args.bench_check(args)
    return args.bench_run(args)
