"""The ``gluon-tricks`` command line: one subcommand per module in ``gluon_tricks.commands``."""
import argparse
import importlib
import sys

from .errors import UsageError

# Each module defines NAME, HELP, configure(parser) and run(args) -> exit code.
COMMANDS = (
    "flops",
    "prepare",
    "check_rec",
    "make_demo_data",
    "bench",
    "train",
    "eval",
    "export",
    "launch",
    "demo",
    "zoo_check",
    "figures",
    "detect",
    "segment",
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line on stderr with exit code 2."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def build_parser():
    parser = OneLineParser(prog="gluon-tricks",
                           description="Bag of Tricks for Image Classification, in MXNet Gluon.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        module = importlib.import_module("gluon_tricks.commands." + name)
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except UsageError as err:
        print("gluon-tricks %s: error: %s" % (args.command, err), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gluon-tricks %s: interrupted" % args.command, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
