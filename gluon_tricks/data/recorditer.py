"""Training and validation batches from MXNet RecordIO (paper §2.1), built on ``mx.io.ImageRecordIter``.

Training (§2.1 steps 1–6): decode; random resized crop (area U[0.08, 1], aspect ratio
[3/4, 4/3]) resized to S×S; horizontal flip p = 0.5; then colour, PCA noise and normalization
as ``augment.PRESETS[aug]`` says. With ``aug="paper"`` (the default) the iterator stops after the
flip and yields raw RGB floats in [0, 255], and steps 4–6 run on the training device with
``augment.device_augmenter(aug, ctx)``. ``aug="paper-decoder"`` runs the paper's ranges
(brightness and saturation U[0.6, 1.4], hue ±72°, PCA σ = 0.1) in the decoding threads, an
approximation (below); ``aug="gluoncv"`` is GluonCV's published setting there (brightness,
contrast and saturation 0.4, PCA 0.1, no hue).

Fresh draws every epoch. The decoding threads draw crops and flips (and the decoder-path colours)
from generators that ``ImageRecordIter`` seeds with fixed numbers ((thread + 1)·111) each time
one is created, so a new iterator per epoch repeats the same draws, position by position, every
epoch (measured: identical images got bit-identical crops in epochs 0 and 1). ``seed_aug``, per
MXNet's ``iter_image_recordio_2.cc``, reseeds the generator before every record with
``slot + seed_aug + 111``, ``slot`` being the record's place in its batch. ``train_iter`` passes
the epoch's seed as ``seed_aug``: each epoch draws afresh (measured), a record's draws no longer
depend on which thread decoded it (by the source, so resume stays exact with several threads; not
measured, as a 2-core machine decodes with one), and within an epoch the records in the same batch
slot share one crop/flip draw (measured; each epoch puts each image in a random slot).

What ``ImageRecordIter`` of MXNet 1.9.1 does (read in ``src/io/image_aug_default.cc`` and
``iter_image_recordio_2.cc``; those marked "measured" were also checked on this MXNet build):

* per image, in this fixed order, on uint8 BGR pixels clipped to [0, 255] after every step:
  ``resize``; random resized crop (area fraction and aspect ratio uniform, width and height
  swapped with p = 0.5, 10 tries, else a center S×S crop); bilinear resize to S×S; brightness,
  contrast and saturation factors 1 + U[−x, x] applied in a random order per image; hue
  (``random_h``); PCA noise (the same eigen-decomposition as ``augment.PCA_*``); then, while
  copying out, BGR→RGB, ``(x − mean) / std`` and the mirror;
* contrast and saturation take the gray level of the BGR pixels with OpenCV's RGB weights, so
  it is 0.114 R + 0.587 G + 0.299 B rather than the usual luma (measured);
* ``random_h`` adds an integer offset to OpenCV's 8-bit HLS hue (0–180 for 360°), so
  ``random_h=36`` means ±72°, the same range as ``HueJitterAug(0.4)``; but the offset is drawn as
  (u₁ + 4u₂)/5 over the range (a trapezoid, not uniform), and the hue is clamped to [0, 180]
  instead of wrapping, so reds near the ends of the scale pile up. ``paper-decoder`` therefore
  only approximates the paper's hue step; the device block rotates the YIQ chroma plane by an
  angle uniform in ±72° (measured);
* ``preprocess_threads`` is capped at max(cores / 2 − 1, 1) decoding threads (measured: one
  on a 2-core machine);
* ``round_batch=False`` yields ceil(N / B) batches but reports ``pad = 0`` on the last, whose
  tail holds stale images; ``round_batch=True`` fills the last batch from the start of the next
  pass and then makes the following epoch shorter. Hence the wrappers below: training batches
  are a continuous stream cut into a fixed number of full batches per epoch, validation batches
  carry the correct ``pad`` (measured);
* ``num_parts`` gives each part a contiguous run of ceil(N / parts) records (the last part
  gets what is left), shuffled within the part when ``shuffle=True`` (measured).
"""
import math

import mxnet as mx
from mxnet import gluon

from ..errors import UsageError, shown
from ..options import INT_LIMIT
from .augment import MEAN_RGB, PRESETS, STD_RGB, on_device
from .recordfile import require_record_pair

VAL_CROP_RATIO = 0.875

RANDOM_RESIZED_CROP = dict(random_resized_crop=True, min_random_area=0.08, max_random_area=1.0,
                           min_aspect_ratio=3.0 / 4.0, max_aspect_ratio=4.0 / 3.0)

NORMALIZE = dict(mean_r=MEAN_RGB[0], mean_g=MEAN_RGB[1], mean_b=MEAN_RGB[2],
                 std_r=STD_RGB[0], std_g=STD_RGB[1], std_b=STD_RGB[2])

# OpenCV's 8-bit hue spans 180 units for 360°: a rotation of r·180° is r·90 units.
HUE_UNITS_PER_HALF_TURN = 90


def colour_kwargs(aug):
    """ImageRecordIter arguments for steps 4–5 of preset ``aug`` (see the module notes on hue)."""
    jitter = PRESETS[aug]
    return dict(brightness=jitter.brightness, contrast=jitter.contrast,
                saturation=jitter.saturation, pca_noise=jitter.pca_noise,
                random_h=int(round(jitter.hue * HUE_UNITS_PER_HALF_TURN)))


def part_sizes(count, num_parts):
    """Records per part as ImageRecordIter splits ``count`` records into contiguous parts."""
    chunk = -(-count // num_parts)
    return [max(0, min(chunk, count - i * chunk)) for i in range(num_parts)]


def _positive_int(value, what, hint):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < INT_LIMIT:
        raise UsageError("%s must be a positive integer below 2^31, got %s; %s"
                         % (what, shown(value, quoted=True), hint))


def check_parts(rec, count, num_parts, part_index, batch_size, smallest):
    """One-line UsageErrors for a worker's part of ``count`` records: ``part_index`` must be in
    0..num_parts − 1 and the ``smallest`` part must hold a batch."""
    _positive_int(num_parts, "number of parts", "pass the number of workers")
    if not isinstance(part_index, int) or not 0 <= part_index < num_parts:
        raise UsageError("part index %s is outside 0..%d; pass this worker's rank"
                         % (shown(part_index), num_parts - 1))
    if smallest < batch_size:
        raise UsageError("%s has %d records, so a part of %d holds only %d, fewer than the batch "
                         "size %d; use a smaller batch size or fewer parts"
                         % (rec, count, num_parts, smallest, batch_size))


def check_inputs(rec, idx, batch_size, input_size, threads):
    """Validate the arguments and the .rec/.idx pair before the C++ iterator sees them.

    ImageRecordIter would otherwise fail later with a C++ trace or hang. Returns the record count.
    """
    _positive_int(input_size, "input size", "pass the image side S, e.g. 224")
    _positive_int(batch_size, "batch size", "pass e.g. 32")
    _positive_int(threads, "decoding threads", "pass e.g. 4")
    check_batch_fits(batch_size, input_size)
    return require_record_pair(rec, idx)


def check_batch_fits(batch_size, input_size, flags="--batch-size or --input-size"):
    """UsageError when a (B, 3, S, S) batch is over 2^31 numbers, more than an MXNet array of
    this build holds (it counts elements in 32-bit integers); the message says to lower
    ``flags``."""
    if batch_size * 3 * input_size ** 2 >= INT_LIMIT:
        raise UsageError("%d image%s of %d×%d pixels %s over 2^31 numbers, more than an MXNet array "
                         "holds; lower %s" % (batch_size, "s" if batch_size > 1 else "", input_size,
                                              input_size, "are" if batch_size > 1 else "is", flags))


def _image_record_iter(rec, idx, batch_size, input_size, threads, **kwargs):
    return mx.io.ImageRecordIter(path_imgrec=rec, path_imgidx=idx, batch_size=batch_size,
                                 data_shape=(3, input_size, input_size),
                                 preprocess_threads=threads, verbose=False, **kwargs)


def record_iter(rec, idx, batch_size, input_size, threads=4, **kwargs):
    """A checked ``ImageRecordIter`` of (B, 3, S, S) float32 batches on cpu_pinned(0).

    Returns (iterator, number of records). Extra ``kwargs`` are ImageRecordIter arguments.
    """
    count = check_inputs(rec, idx, batch_size, input_size, threads)
    return _image_record_iter(rec, idx, batch_size, input_size, threads, **kwargs), count


class Batches:
    """``num_batches`` ``mx.io.DataBatch``es per epoch: ``reset()`` starts an epoch, iteration
    yields them. Subclasses say how one batch is made (``_batch(index)``)."""

    def __init__(self, num_batches, batch_size):
        self.num_batches, self.batch_size = num_batches, batch_size
        self._done = 0

    def reset(self):
        self._done = 0

    def close(self):
        """Done with these batches (see :meth:`TrainBatches.close`)."""

    def __iter__(self):
        return self

    def __next__(self):
        if self._done == self.num_batches:
            raise StopIteration
        self._done += 1
        return self._batch(self._done - 1)

    next = __next__

    def _batch(self, index):
        raise NotImplementedError


class TrainBatches(Batches):
    """A fixed number of full training batches per epoch, cut from a continuous stream (§2.1).

    The stream is the iterator's passes over the (shuffled) records back to back, so every record
    is used equally often in the long run, every epoch has ``num_batches`` batches, every batch
    is full (``pad`` 0) and all parts of a sharded run take the same number of steps.
    ``reset()`` starts a new epoch without rewinding the stream.
    """

    def __init__(self, source, num_batches, batch_size):
        super().__init__(num_batches, batch_size)
        self.source = source

    def _batch(self, index):
        try:
            batch = self.source.next()
        except StopIteration:
            self.source.reset()
            batch = self.source.next()
        return mx.io.DataBatch(data=batch.data, label=batch.label, pad=0)

    def close(self):
        """Stop the decoding threads' read-ahead and drop a decoding error they hit in it.

        MXNet 1.9.1 aborts the process (dmlc ThreadedIter, ``producer_sig_ != kDestroy``) when
        an iterator whose read-ahead failed is destroyed; ``reset`` hands the error over first.
        A record that fails here fails again when an epoch reaches it, and is named then.
        """
        try:
            self.source.reset()
        except mx.base.MXNetError:
            pass


class ValBatches(Batches):
    """Every validation record exactly once per pass; the last batch's ``pad`` counts its filler."""

    def __init__(self, source, count, batch_size):
        super().__init__(-(-count // batch_size), batch_size)
        self.source, self.count = source, count

    def reset(self):
        self.source.reset()
        super().reset()

    def _batch(self, index):
        batch = self.source.next()
        last = index == self.num_batches - 1
        pad = self.num_batches * self.batch_size - self.count if last else 0
        return mx.io.DataBatch(data=batch.data, label=batch.label, pad=pad)


def train_iter(rec, idx, batch_size, input_size, aug="paper", threads=4, num_parts=1,
               part_index=0, seed=0):
    """Shuffled, augmented training batches of part ``part_index`` of ``num_parts`` (§2.1 steps 1–6).

    When ``augment.on_device(aug)`` the batches stop after step 3 (raw RGB in [0, 255]); apply
    ``augment.device_augmenter(aug, ctx)`` to each device's slice. ``seed`` seeds the shuffle and
    the decoding threads' augmentation draws (``seed_aug``, see the module notes): pass a new one
    every epoch.
    """
    if aug not in PRESETS:
        raise UsageError("unknown augmentation %s; choose one of: %s"
                         % (shown(aug, quoted=True), ", ".join(PRESETS)))
    count = check_inputs(rec, idx, batch_size, input_size, threads)
    check_parts(rec, count, num_parts, part_index, batch_size, min(part_sizes(count, num_parts)))
    kwargs = dict(RANDOM_RESIZED_CROP, rand_mirror=True, shuffle=True, seed=seed, seed_aug=seed,
                  num_parts=num_parts, part_index=part_index, round_batch=True)
    if not on_device(aug):
        kwargs.update(colour_kwargs(aug), **NORMALIZE)
    source = _image_record_iter(rec, idx, batch_size, input_size, threads, **kwargs)
    return TrainBatches(source, count // (num_parts * batch_size), batch_size)


def val_iter(rec, idx, batch_size, input_size, threads=4):
    """Validation batches (§2.1): resize shorter side to ceil(S/0.875), center crop S, normalize."""
    _positive_int(input_size, "input size", "pass the image side S, e.g. 224")   # before ceil()
    source, count = record_iter(rec, idx, batch_size, input_size, threads,
                                resize=int(math.ceil(input_size / VAL_CROP_RATIO)),
                                rand_crop=False, rand_mirror=False, shuffle=False,
                                round_batch=False, **NORMALIZE)
    return ValBatches(source, count, batch_size)


class DeviceBatch(mx.io.DataBatch):
    """A batch already on the training devices (``--data-backend dali-gpu``): ``data[d]`` and
    ``label[d]`` live on device ``d`` and hold its share of each micro-batch, the micro-batches
    one after another (``train.micro_batches`` cuts every array alike)."""


def split_to_contexts(batch, ctxs):
    """(data slices, label slices): the batch split evenly over ``ctxs`` and copied there; a
    DeviceBatch is there already and is handed over as it is."""
    if isinstance(batch, DeviceBatch):
        if [a.context for a in batch.data] != list(ctxs):
            raise UsageError("a batch decoded on %s cannot train on %s"
                             % ([str(a.context) for a in batch.data], [str(c) for c in ctxs]))
        return list(batch.data), list(batch.label)
    size = batch.data[0].shape[0]
    if size % len(ctxs):
        raise UsageError("batch size %d does not split evenly over %d devices; use a batch size "
                         "that is a multiple of %d" % (size, len(ctxs), len(ctxs)))
    return (gluon.utils.split_and_load(batch.data[0], ctxs, even_split=True),
            gluon.utils.split_and_load(batch.label[0], ctxs, even_split=True))
