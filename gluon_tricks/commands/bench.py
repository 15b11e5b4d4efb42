"""``gluon-tricks bench``: side-by-side throughput benchmarks, one subcommand per module of
:mod:`gluon_tricks.bench` (each defines NAME, HELP, configure(parser) and run(args))."""
import importlib

from ..errors import UsageError

NAME = "bench"
HELP = ("measure throughput side by side, images per second (bench data, bench train, "
        "bench prepare)")
BENCHMARKS = ("data", "train", "prepare")


def configure(parser):
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK",
                                       parser_class=type(parser))
    for name in BENCHMARKS:
        module = importlib.import_module("gluon_tricks.bench." + name)
        sub = benchmarks.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(bench_run=module.run)


def run(args):
    if not getattr(args, "bench_run", None):
        raise UsageError("choose a benchmark: %s"
                         % ", ".join("`gluon-tricks bench %s`" % name for name in BENCHMARKS))
    return args.bench_run(args)
