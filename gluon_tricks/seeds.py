"""The seeds that make a run repeatable and its resume exact: every epoch starts Python's,
NumPy's and MXNet's RNGs afresh from (run seed, epoch, worker), so an epoch's random draws do
not depend on whether the run was interrupted before it (``train``, ``detect``, ``segment``)."""
import random

import mxnet as mx
import numpy as np


def epoch_seed(seed, epoch, rank):
    """A 31-bit seed for (run seed, epoch, worker): what every RNG is set to at an epoch's start
    (epoch −1 seeds the initialisation)."""
    return int(np.random.SeedSequence([seed, epoch + 1, rank]).generate_state(1)[0] >> 1)


def update_seed(seed, epoch, update, rank):
    """A 31-bit seed for update ``update`` (0-based) of an epoch: MXNet's RNG is set to it
    before each update and the update's own draws (mixup's pairs and λ) come from it, so the
    draws of an update (also the colour jitter, dropout, a detector's sampling on the devices)
    are a function of its number and a run resumes exactly within an epoch, on every worker."""
    return int(np.random.SeedSequence([seed, epoch + 1, rank, update + 1])
               .generate_state(1)[0] >> 1)


def seed_everything(seed):
    """Seed Python's ``random``, NumPy's global RNG and MXNet's RNG on every device."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed, ctx="all")
