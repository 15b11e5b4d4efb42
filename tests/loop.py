"""Test helper: a real training run (``gluon_tricks.classification.Run``) built from ``train`` flags, and
recorders that watch what its networks receive and return through MXNet's own block hooks."""
import numpy as np

from gluon_tricks.cli import OneLineParser
from gluon_tricks.commands.train import config_from_args, configure
from gluon_tricks.distributed import Distribution
from gluon_tricks.classification import Run

# resnet18_v1b at 32 px on 4 classes: the smallest real ResNet the loop trains.
TINY = ("--model", "resnet18_v1b", "--input-size", "32", "--classes", "4", "--batch-size", "8",
        "--threads", "1", "--batches-per-epoch", "2", "--num-epochs", "3")


def config(*flags):
    """The resolved TrainConfig of ``gluon-tricks train FLAGS`` (the real parser and resolve())."""
    parser = OneLineParser()
    configure(parser)
    return config_from_args(parser.parse_args([str(f) for f in flags]))


def make_run(save_dir, *flags, data="synthetic", aug="gluoncv"):
    """A Run on synthetic batches (or ``data="rec"`` with --data-dir among ``flags``); later
    flags win over TINY's. ``--aug gluoncv`` is the default here so the synthetic inputs reach
    the network unchanged (no device colour block); ``aug=None`` leaves --aug to the defaults
    and ``--preset`` (a flag given explicitly would win over the preset)."""
    base = ("--data-backend", data, "--save-dir", save_dir) + (("--aug", aug) if aug else ()) + TINY
    cfg = config(*base, *flags)
    return Run(cfg, Distribution(cfg))


class Recorder:
    """Everything a block was called with and returned, as NumPy (a forward hook, no mock)."""

    def __init__(self, block):
        self.inputs, self.outputs = [], []
        self.handle = block.register_forward_hook(self._hook)

    def _hook(self, block, inputs, output):
        self.inputs.append(inputs[0].asnumpy())
        self.outputs.append(output.asnumpy())


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
