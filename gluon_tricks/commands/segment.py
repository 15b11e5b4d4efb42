"""``gluon-tricks segment``: FCN on ADE20K from one of our classifiers (§6.2, Table 9)."""
NAME = "segment"
HELP = "FCN on ADE20K (paper §6.2, Table 9)"


def configure(p):
    pass


def run(args):
    return 0
