"""The ``gluon-tricks`` command line: one subcommand per module in ``gluon_tricks.commands``."""
import argparse
import importlib
import os
import sys

from . import __version__, options
from .errors import MESSAGE_CHARS, GluonTricksError, Stopped, shown

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
    "recipes",
    "doctor",
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line on stderr with exit code 2, which
    takes flags only as written (no prefix matching: ``--mode`` is never ``--model``), and whose
    numbers are bounded (:func:`~gluon_tricks.options.bounded_int`, ``finite_float``)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        # every int and float flag of every command: within 32 bits, finite
        self.register("type", int, options.bounded_int)
        self.register("type", float, options.finite_float)

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n"
                  % (self.prog, shown(message, limit=MESSAGE_CHARS)))


def build_parser():
    parser = OneLineParser(prog="gluon-tricks",
                           description="Bag of Tricks for Image Classification, in MXNet Gluon.")
    parser.add_argument("--version", action="version", version="gluon-tricks " + __version__)
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
        code = args.run(args) or 0
        sys.stdout.flush()
        return code
    except Stopped as err:
        print("gluon-tricks %s: %s" % (args.command, err), file=sys.stderr)
        return err.exit_code
    except GluonTricksError as err:
        print("gluon-tricks %s: error: %s" % (args.command, shown(str(err), limit=MESSAGE_CHARS)),
              file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gluon-tricks %s: interrupted" % args.command, file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``--print-config | head``): drop what is left, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
