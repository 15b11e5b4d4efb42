"""``gluon-tricks recipes``: the paper's table rows that ``train --recipe`` and recipes/ run."""
from .. import recipes

NAME = "recipes"
HELP = "list the paper's table rows (train --recipe NAME) with the paper's top-1/top-5"


def configure(p):
    p.add_argument("--settings", action="store_true",
                   help="also print each row's network, total batch, lr and flags")


def run(args):
    width = max(len(row.name) for row in recipes.ROWS)
    print("%s  %-28s  %s" % ("recipe".ljust(width), "paper top-1 / top-5 (%)", "row"))
    for row in recipes.ROWS:
        same = recipes.same_as(row)
        note = " (same run as %s)" % ", ".join(same) if same else ""
        print("%s  %-28s  %s%s" % (row.name.ljust(width), recipes.paper_numbers(row), row.label,
                                   note))
        if args.settings:
            print("%s  %s" % (" " * width, recipes.describe(row.recipe)))
    print("run one: gluon-tricks train --recipe NAME [--gpus IDS] [--data-dir DIR] ... "
          "(or bash recipes/NAME.sh)")
    return 0
