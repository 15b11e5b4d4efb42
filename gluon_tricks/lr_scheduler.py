"""Learning-rate schedules of the paper: linear warmup (§3.1), then step, cosine (§5.1) or poly decay;
the transfer runs' schedules (§6) are the same modes with Detectron's warmup (``detect``) or none
(``segment``).

The schedule is a pure function of k, the number of the update (k = 1 for the first
``trainer.step``), which is what MXNet 1.9.1's optimizer passes as ``num_update``:

* each optimizer keeps a count per (device, parameter index) (``_all_index_update_counts``);
  ``_update_count`` adds 1 to the count of every index it updates and sets
  ``num_update = max(num_update, count)``; the scheduler is then called with ``num_update``.
  Every device copy of a parameter is updated once per ``trainer.step``, so the counts of all
  devices agree and the k-th step sees k whatever the number of devices or kvstore mode.
* a fresh per-index count starts at ``begin_num_update``, not at ``num_update``. So resuming
  after K updates means either restoring the per-index counts (what our checkpoints do, see
  :mod:`gluon_tricks.checkpoint`) or building the trainer with
  ``optimizer_params={'begin_num_update': K, ...}``; both make the next step use k = K + 1.
  Setting ``optimizer.num_update = K`` alone is wrong: the max keeps k at K for K more steps.
"""
import math

import mxnet as mx
import numpy as np


MODES = ("step", "cosine", "poly")


def warmup_lr(k, base_lr, warmup_updates):
    """Linear warmup, paper §3.1: at batch k (1 ≤ k ≤ m) the lr is k·η/m."""
    return k * base_lr / warmup_updates


def warmup_factor(k, warmup_updates, start):
    """Detectron's linear warmup, which the paper's detector uses (§6.1): update k (1 ≤ k ≤ m)
    runs at f + (1 − f)·(k − 1)/m times the schedule's lr, from f at k = 1 towards 1."""
    return start + (1.0 - start) * (k - 1) / warmup_updates


def cosine_lr(t, total, base_lr):
    """Cosine decay, paper §5.1 eq. 1: η_t = ½(1 + cos(tπ/T))·η, t batches after warmup (0 first)."""
    return 0.5 * (1.0 + math.cos(math.pi * t / total)) * base_lr


def step_lr(k, base_lr, boundaries, factor):
    """Step decay, paper §5.1 ("÷10 every 30 epochs"): η·factor^(number of boundaries ≤ k).

    ``boundaries`` are the update numbers at which a new lr starts (first update of a step epoch).
    """
    return base_lr * factor ** sum(1 for b in boundaries if b <= k)


def poly_lr(t, total, base_lr, power):
    """Polynomial decay (GluonCV's "poly", not in the paper): η·(1 − t/T)^power, t as in eq. 1."""
    return base_lr * (1.0 - t / total) ** power


def same_for_lengths(mode, step_epochs, old, new):
    """True when a ``mode`` schedule gives every update the same lr in a run of ``old`` and of
    ``new`` epochs: a step schedule whose step epochs all fall before both ends (cosine and poly
    stretch with the total), what lets a resumed run change its length."""
    return mode == "step" and all(e < min(old, new) for e in step_epochs)


class BagOfTricksScheduler(mx.lr_scheduler.LRScheduler):
    """Linear warmup over m updates, then ``mode`` decay, called with the update number k.

    m is ``warmup_epochs`` × ``iters_per_epoch`` unless ``warmup_updates`` gives it. With
    ``warmup_start`` None the warmup is the paper's (§3.1: from 0, the decay starting after it);
    with a fraction f it is Detectron's (§6.1: :func:`warmup_factor` scales the decay's own lr).
    k is clamped to [1, N] (N = ``num_epochs`` × ``iters_per_epoch``): k = 0 (nothing updated yet,
    e.g. ``trainer.learning_rate`` before the first step) reports the first update's lr, and
    updates past the end keep the last scheduled lr (≥ 0) instead of cosine rising again.
    The lr is read from ``self.base_lr`` on every call, because MXNet's Optimizer overwrites it
    when given a different ``learning_rate``.
    """

    def __init__(self, mode, base_lr, iters_per_epoch, num_epochs, warmup_epochs=0,
                 step_epochs=(), step_factor=0.1, power=2, warmup_updates=None,
                 warmup_start=None):
        super().__init__(base_lr=base_lr)
        self.mode = mode
        self.warmup_updates = (warmup_epochs * iters_per_epoch if warmup_updates is None
                               else warmup_updates)
        self.warmup_start = warmup_start
        self.total_updates = num_epochs * iters_per_epoch
        self.step_boundaries = tuple(e * iters_per_epoch + 1 for e in sorted(step_epochs))
        self.step_factor = step_factor
        self.power = power

    def __call__(self, num_update):
        k = min(max(num_update, 1), self.total_updates)
        m = self.warmup_updates
        if self.warmup_start is None:
            return warmup_lr(k, self.base_lr, m) if k <= m else self._decay(k, m)
        lr = self._decay(k, 0)
        return lr * warmup_factor(k, m, self.warmup_start) if k <= m else lr

    def _decay(self, k, m):
        """The ``mode`` decay's lr at update k, counted from the end of m warmup updates."""
        if self.mode == "step":
            return step_lr(k, self.base_lr, self.step_boundaries, self.step_factor)
        t, total = k - m - 1, self.total_updates - m
        if self.mode == "cosine":
            return cosine_lr(t, total, self.base_lr)
        return poly_lr(t, total, self.base_lr, self.power)


def _check_int(name, value, minimum):
    """Raise ValueError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, minimum, value))


def make_scheduler(mode, base_lr, iters_per_epoch, num_epochs, warmup_epochs=0,
                   step_epochs=(), step_factor=0.1, power=2, warmup_updates=None,
                   warmup_start=None):
    """Build a :class:`BagOfTricksScheduler` after checking the arguments (ValueError if bad).

    ``step_epochs``/``step_factor`` are used by mode "step" only, ``power`` by mode "poly" only.
    Step epochs at or past ``num_epochs`` never take effect (so a 120-epoch recipe shortened with
    ``--num-epochs`` still runs), and no step epochs at all mean a constant lr after warmup.
    ``warmup_updates`` counts the warmup in updates instead of epochs; ``warmup_start`` chooses
    Detectron's warmup (see :class:`BagOfTricksScheduler`).
    """
    if mode not in MODES:
        raise ValueError("unknown lr mode %r; choose one of: %s" % (mode, ", ".join(MODES)))
    if not base_lr > 0:
        raise ValueError("base_lr must be > 0, got %r" % (base_lr,))
    _check_int("iters_per_epoch", iters_per_epoch, 1)
    _check_int("num_epochs", num_epochs, 1)
    _check_int("warmup_epochs", warmup_epochs, 0)
    if warmup_epochs >= num_epochs:
        raise ValueError("warmup_epochs (%d) must be smaller than num_epochs (%d)"
                         % (warmup_epochs, num_epochs))
    if warmup_updates is not None:
        _check_int("warmup_updates", warmup_updates, 0)
    if warmup_start is not None and not 0 <= warmup_start < 1:
        raise ValueError("warmup_start must be in [0, 1), got %r" % (warmup_start,))
    if mode == "step":
        for epoch in step_epochs:
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
                raise ValueError("step epoch %r must be a positive integer (epochs at or past "
                                 "num_epochs are never reached)" % (epoch,))
        if not step_factor > 0:
            raise ValueError("step_factor must be > 0, got %r" % (step_factor,))
    if mode == "poly" and not power > 0:
        raise ValueError("power must be > 0, got %r" % (power,))
    return BagOfTricksScheduler(mode, base_lr, iters_per_epoch, num_epochs, warmup_epochs,
                                step_epochs, step_factor, power, warmup_updates, warmup_start)


def scheduler_from_config(config, iters_per_epoch):
    """The schedule of a run from its config (a ``TrainConfig.to_dict()``, e.g. its config.json)."""
    return make_scheduler(config["lr_mode"], config["lr"], iters_per_epoch, config["num_epochs"],
                          warmup_epochs=config["warmup_epochs"],
                          step_epochs=config["lr_decay_epochs"], step_factor=config["lr_decay"])


def lr_curve(scheduler, num_updates):
    """The lr of updates k = 1..num_updates as a float64 array (the curves of paper Fig. 3a)."""
    return np.array([scheduler(k) for k in range(1, num_updates + 1)], dtype=np.float64)
