"""What one training epoch reads and draws, as pure functions of (seed, epoch, rank, position):
the order of the records and the crop window and flip of every image (paper §2.1 steps 2–3).

Used by the DALI backends (``dali.py``), which read the records in this order and decode only
each window. Nothing here depends on what was read before, so an epoch can start at any batch
(exact resume from any update) and any worker can compute its share alone.

* Order: each epoch is one permutation of all N records, drawn from (seed, epoch); worker
  ``rank`` of ``size`` takes every ``size``-th record of it from position ``rank`` (so across
  workers each record appears exactly once per epoch), and its epoch is the first
  ``batch_size`` × ``num_batches`` of those, ``num_batches`` = ⌊⌊N / size⌋ / batch_size⌋ on every
  worker. The few left over are a different random few each epoch.
* Draws: batch ``k`` of worker ``rank`` draws from a generator seeded with
  (seed, epoch, rank, k); sample ``i`` of the batch takes row ``i`` of every draw. Every image
  draws independently of the others (unlike ``ImageRecordIter``, whose draws repeat per batch
  slot within an epoch: ``record.py``).
* Crop (step 2): area fraction U[0.08, 1] of the image and aspect ratio (width / height) in
  [3/4, 4/3], uniform in its logarithm so that a w:h window is as likely as h:w (the paper names
  the range, not the distribution; torchvision's and MXNet's ``random_size_crop`` draw it so).
  Width and height are rounded to pixels; the first of ``ATTEMPTS`` draws that fits inside the
  image is taken, at a uniformly drawn integer position. When none fits (only for images far
  from square) the paper names no fallback; here it is the largest centred window whose aspect
  ratio is in [3/4, 4/3], the whole image when its own ratio is in that range (torchvision's
  fallback; GluonCV takes a centred crop too).
* Flip (step 3): horizontal with p = 0.5.
"""
import math

import numpy as np

MIN_AREA, MAX_AREA = 0.08, 1.0
MIN_RATIO, MAX_RATIO = 3.0 / 4.0, 4.0 / 3.0
FLIP_P = 0.5
ATTEMPTS = 10

# Distinct first words of the seeds, so that orders and draws never share a stream.
_ORDER, _DRAWS = 1, 2


def epoch_order(count, seed, epoch):
    """The permutation of ``count`` record numbers that epoch ``epoch`` reads (all workers)."""
    rng = np.random.default_rng(np.random.SeedSequence([_ORDER, seed, epoch]))
    return rng.permutation(count)


def batches_per_epoch(count, num_parts, batch_size):
    """Full batches each of ``num_parts`` workers reads per epoch from ``count`` records."""
    return count // num_parts // batch_size


def shard(order, num_parts, part_index, batch_size):
    """The record numbers worker ``part_index`` reads in an epoch of ``order``, in order."""
    mine = order[part_index::num_parts]
    return mine[:batches_per_epoch(len(order), num_parts, batch_size) * batch_size]


class Draws:
    """The uniform variates of one batch: per sample ``ATTEMPTS`` area fractions and log aspect
    ratios, a crop position (two numbers in [0, 1)) and a flip."""

    def __init__(self, seed, epoch, rank, batch, batch_size):
        rng = np.random.default_rng(np.random.SeedSequence([_DRAWS, seed, epoch, rank, batch]))
        shape = (batch_size, ATTEMPTS)
        self.area = rng.uniform(MIN_AREA, MAX_AREA, shape)
        self.log_ratio = rng.uniform(math.log(MIN_RATIO), math.log(MAX_RATIO), shape)
        self.position = rng.random((batch_size, 2))
        self.flip = rng.random(batch_size) < FLIP_P


def crop_windows(draws, rows, heights, widths):
    """(x, y, w, h) int arrays: the crop windows of samples ``rows`` of ``draws`` in images of
    ``heights`` × ``widths`` pixels (step 2, with the centred fallback of the module notes)."""
    heights = np.asarray(heights, np.int64)[:, None]
    widths = np.asarray(widths, np.int64)[:, None]
    target = draws.area[rows] * heights * widths
    ratio = np.exp(draws.log_ratio[rows])
    w = np.rint(np.sqrt(target * ratio)).astype(np.int64)
    h = np.rint(np.sqrt(target / ratio)).astype(np.int64)
    fits = (w >= 1) & (h >= 1) & (w <= widths) & (h <= heights)
    first = np.argmax(fits, axis=1)
    pick = np.arange(len(first))
    heights, widths = heights[:, 0], widths[:, 0]
    w, h = w[pick, first], h[pick, first]
    fallback = ~fits[pick, first]
    if fallback.any():
        fw, fh = centre_window(heights[fallback], widths[fallback])
        w[fallback], h[fallback] = fw, fh
    position = draws.position[rows]
    x = np.floor(position[:, 0] * (widths - w + 1)).astype(np.int64)
    y = np.floor(position[:, 1] * (heights - h + 1)).astype(np.int64)
    x[fallback] = (widths[fallback] - w[fallback]) // 2
    y[fallback] = (heights[fallback] - h[fallback]) // 2
    return x, y, w, h


def centre_window(heights, widths):
    """(w, h) of the largest window with aspect ratio in [3/4, 4/3] inside each image."""
    heights, widths = np.asarray(heights, np.int64), np.asarray(widths, np.int64)
    w = np.minimum(widths, np.rint(heights * MAX_RATIO).astype(np.int64))
    h = np.minimum(heights, np.rint(widths / MIN_RATIO).astype(np.int64))
    return np.maximum(w, 1), np.maximum(h, 1)


class EpochPlan:
    """Epoch ``epoch`` of worker ``part_index`` of ``num_parts``: which records each batch holds
    and its draws (the module notes)."""

    def __init__(self, count, batch_size, seed, epoch, num_parts=1, part_index=0):
        self.batch_size, self.seed, self.epoch, self.rank = batch_size, seed, epoch, part_index
        self.order = shard(epoch_order(count, seed, epoch), num_parts, part_index, batch_size)
        self.num_batches = len(self.order) // batch_size

    def numbers(self, batch):
        """The record numbers of batch ``batch``, in sample order."""
        return self.order[batch * self.batch_size:(batch + 1) * self.batch_size]

    def draws(self, batch):
        return Draws(self.seed, self.epoch, self.rank, batch, self.batch_size)
