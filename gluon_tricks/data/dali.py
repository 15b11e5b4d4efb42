"""``--data-backend dali-cpu`` / ``dali-gpu``: training and validation batches from the same
RecordIO files through NVIDIA DALI (paper §2.1).

Training, steps 1–3. The records are read here, in the order ``sampling`` gives (each epoch one
permutation of the whole set, this worker's share of it); every image's crop window and flip
are drawn here from (seed, epoch, rank, batch), with the image size read from its header; DALI
then decodes only that window (``decoders.image_slice``: libjpeg-turbo on ``threads`` CPU
threads for ``dali-cpu``, nvJPEG on the GPU, device "mixed", for ``dali-gpu``), resizes it to
S × S and flips it. The batches hold raw RGB in [0, 255], like ``rec``'s under ``--aug paper``;
steps 4–6 run on the training device in ``augment.device_augmenter``, for every backend.

Why not DALI's own reader and random operators: ``readers.mxnet`` shuffles within a buffer
(``initial_fill`` records), not over the whole set, and DALI's random operators draw from a
state that runs on from the start of the pipeline, so batch k of an epoch could only be reached
by producing the k before it. Here every batch is a function of its number: an epoch can start
at any batch (``start_batch``) without decoding the ones before, which is what an exact resume
from any update needs.

Validation, as ``record.val_iter``: shorter side to ⌈S / 0.875⌉, centre crop S × S, normalised,
every record once per pass in file order, the last batch padded (``pad``).

Resizing uses DALI's linear filter with antialiasing (a triangle filter as wide as the scale
when shrinking); ``ImageRecordIter`` resizes bilinearly without it, so the same weights score
differently through the two backends (benchmarks/README.md: up to 6.8 points of top-1 at 64 px).
DALI ignores EXIF orientation (``ImageRecordIter``, through OpenCV, applies it); records written
by ``prepare`` carry none.

``dali-gpu`` runs one pipeline per training GPU: each decodes that device's share of every
micro-batch and hands it over on that GPU (a ``record.DeviceBatch``), so decoded images never
pass through the host. ``dali-cpu`` runs one pipeline whose batches are on the host, as
``rec``'s. Works with DALI 1.34 to 1.39 (1.39 is the last release with the MXNet plugin, whose
``feed_ndarray`` copies DALI's outputs into MXNet arrays).
"""
import math
import re
from types import SimpleNamespace

import mxnet as mx
import numpy as np

from ..errors import UsageError
from . import sampling
from .augment import MEAN_RGB, STD_RGB
from .codec import stored_size
from .recorditer import VAL_CROP_RATIO, Batches, DeviceBatch, check_inputs, check_parts
from .recordfile import read_idx, read_record

BACKENDS = ("dali-cpu", "dali-gpu")
# Batches DALI asks its source for ahead of the one being run.
PREFETCH = 2
INSTALL = "pip install -c constraints.txt -e '.[dali]' in the repository (bash tools/install.sh does it)"


class ReadFailed(Exception):
    """A batch could not be read: ``records`` are the (key, byte offset) of the records it (or
    the batches DALI had already asked for) held; the message says what went wrong."""

    def __init__(self, message, records):
        super().__init__(message)
        self.records = records


def modules(backend):
    """DALI's ``fn``, ``types``, ``pipeline_def`` and the MXNet plugin's ``feed_ndarray``, or a
    one-line UsageError naming the install command."""
    try:
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.mxnet import feed_ndarray
    except ImportError as err:
        raise UsageError("--data-backend %s needs NVIDIA DALI 1.34-1.39 with its MXNet plugin "
                         "(%s); install it with %s" % (backend, err, INSTALL)) from None
    return SimpleNamespace(fn=fn, types=types, pipeline_def=pipeline_def,
                           feed_ndarray=feed_ndarray)


def pipeline_devices(backend, contexts):
    """The DALI ``device_id`` of each pipeline: one per training GPU for ``dali-gpu``, a single
    CPU-only pipeline (None) for ``dali-cpu``; one-line UsageError for ``dali-gpu`` without
    GPUs to run on."""
    if backend == "dali-cpu":
        return [None]
    if not contexts or any(c.device_type != "gpu" for c in contexts):
        raise UsageError("--data-backend dali-gpu decodes on the GPUs the network runs on, and "
                         "it runs on the CPU here; pass --gpus IDS, or use --data-backend dali-cpu")
    return [c.device_id for c in contexts]


def device_rows(batch_size, steps, parts, part):
    """Positions in a batch of ``batch_size`` that pipeline ``part`` of ``parts`` produces: its
    share of each of the ``steps`` micro-batches (what ``split_to_contexts`` would give it)."""
    micro = batch_size // steps
    share = micro // parts
    return np.concatenate([np.arange(m * micro + part * share, m * micro + (part + 1) * share)
                           for m in range(steps)])


class Records:
    """Records of a .rec by number (their order in the .idx): label, encoded bytes, stored size."""

    def __init__(self, rec, idx):
        self.rec, self.entries = rec, read_idx(idx)
        self._handle = None

    def __len__(self):
        return len(self.entries)

    def read(self, numbers):
        """(labels, byte arrays, heights, widths) of records ``numbers``; ReadFailed naming a
        record without a readable JPEG or PNG header."""
        labels, data, heights, widths = [], [], [], []
        if self._handle is None:
            self._handle = open(self.rec, "rb")
        for number in numbers:
            key, offset = self.entries[number]
            record = read_record(self._handle, offset)
            size = record and stored_size(record[1])
            if not size:
                raise ReadFailed("%s: record %d (byte %d) has no readable JPEG or PNG header (the "
                                 "DALI backends read those two formats)" % (self.rec, key, offset),
                                 [(key, offset)])
            labels.append(np.array(record[0], np.float32))
            data.append(np.frombuffer(record[1], np.uint8))
            heights.append(size[0])
            widths.append(size[1])
        return labels, data, heights, widths

    def entries_of(self, numbers):
        return [self.entries[n] for n in numbers]

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _TrainFeed:
    """DALI's external source for one training pipeline: at DALI iteration i, samples ``rows``
    of batch ``start + i`` of the epoch ``plan``, with their crop windows and flips."""

    def __init__(self, records, plan, rows, start):
        self.records, self.plan, self.rows, self.start = records, plan, rows, start

    def numbers(self, batch):
        return self.plan.numbers(batch)[self.rows]

    def __call__(self, info):
        batch = self.start + info.iteration
        if batch >= self.plan.num_batches:
            raise StopIteration
        labels, data, heights, widths = self.records.read(self.numbers(batch))
        draws = self.plan.draws(batch)
        x, y, w, h = sampling.crop_windows(draws, self.rows, heights, widths)
        anchors = [np.array(a, np.float32) for a in zip(x, y)]
        shapes = [np.array(s, np.float32) for s in zip(w, h)]
        flips = [np.array(f, np.int32) for f in draws.flip[self.rows]]
        return data, anchors, shapes, flips, labels


class _ValFeed:
    """DALI's external source for one validation pipeline: samples ``rows`` of batch i in file
    order, the last batch filled up with the last record."""

    def __init__(self, records, batch_size, num_batches, rows):
        self.records, self.batch_size, self.num_batches, self.rows = (records, batch_size,
                                                                      num_batches, rows)

    def numbers(self, batch):
        positions = np.arange(batch * self.batch_size, (batch + 1) * self.batch_size)
        return np.minimum(positions, len(self.records) - 1)[self.rows]

    def __call__(self, info):
        if info.iteration >= self.num_batches:
            raise StopIteration
        labels, data, _, _ = self.records.read(self.numbers(info.iteration))
        return data, labels


def _train_pipeline(dali, feed, batch_size, input_size, device_id, threads):
    """Steps 1–3: decode the window, resize it to S × S, flip; raw float CHW RGB out."""
    fn, types = dali.fn, dali.types

    @dali.pipeline_def(batch_size=batch_size, num_threads=threads, device_id=device_id, seed=0,
                       prefetch_queue_depth=PREFETCH)
    def pipeline():
        data, anchor, shape, flip, label = fn.external_source(
            source=feed, num_outputs=5, batch=True, batch_info=True,
            dtype=[types.UINT8, types.FLOAT, types.FLOAT, types.INT32, types.FLOAT])
        images = fn.decoders.image_slice(data, anchor, shape, normalized_anchor=False,
                                         normalized_shape=False, output_type=types.RGB,
                                         device="cpu" if device_id is None else "mixed")
        images = fn.resize(images, resize_x=input_size, resize_y=input_size,
                           interp_type=types.INTERP_LINEAR, antialias=True)
        images = fn.crop_mirror_normalize(images, mirror=flip, dtype=types.FLOAT,
                                          output_layout="CHW")
        return images, label if device_id is None else label.gpu()
    return pipeline()


def _val_pipeline(dali, feed, batch_size, input_size, device_id, threads):
    """Validation: decode, shorter side to ⌈S / 0.875⌉, centre crop S × S, normalise."""
    fn, types = dali.fn, dali.types

    @dali.pipeline_def(batch_size=batch_size, num_threads=threads, device_id=device_id, seed=0,
                       prefetch_queue_depth=PREFETCH)
    def pipeline():
        data, label = fn.external_source(source=feed, num_outputs=2, batch=True, batch_info=True,
                                         dtype=[types.UINT8, types.FLOAT])
        images = fn.decoders.image(data, output_type=types.RGB,
                                   device="cpu" if device_id is None else "mixed")
        images = fn.resize(images, resize_shorter=math.ceil(input_size / VAL_CROP_RATIO),
                           interp_type=types.INTERP_LINEAR, antialias=True)
        images = fn.crop_mirror_normalize(images, crop=(input_size, input_size),
                                          crop_pos_x=0.5, crop_pos_y=0.5, mean=list(MEAN_RGB),
                                          std=list(STD_RGB), dtype=types.FLOAT,
                                          output_layout="CHW")
        return images, label if device_id is None else label.gpu()
    return pipeline()


class DaliBatches(Batches):
    """Batches ``start``.. of ``num_batches`` from one DALI pipeline per device. The pipelines
    are built at the first batch and dropped by ``close()``/``reset()`` (a reset starts again
    at ``start``)."""

    def __init__(self, backend, records, feeds, make_pipeline, num_batches, batch_size, pads,
                 contexts, start=0):
        super().__init__(num_batches, batch_size)
        self.backend, self.records, self.feeds = backend, records, feeds
        self.make_pipeline, self.pads, self.contexts = make_pipeline, pads, contexts
        self.dali = modules(backend)
        self.start = self._done = start
        self._pipelines = None

    def reset(self):
        self._pipelines = None
        self._done = self.start

    def close(self):
        self._pipelines = None
        self.records.close()

    def _build(self):
        devices = pipeline_devices(self.backend, self.contexts)
        pipelines = []
        for feed, device in zip(self.feeds, devices):
            try:
                pipeline = self.make_pipeline(self.dali, feed, device)
                pipeline.build()
            except RuntimeError as err:
                raise UsageError("DALI could not start a pipeline on %s: %s"
                                 % ("the CPU" if device is None else "GPU %d" % device,
                                    _first_line(err))) from None
            pipelines.append(pipeline)
        return pipelines

    def _batch(self, index):
        if self._pipelines is None:
            self._pipelines = self._build()
        try:
            outputs = [pipeline.run() for pipeline in self._pipelines]
        except RuntimeError as err:
            # DALI has asked for this batch and the ones it prefetches: any of them may hold it.
            ahead = range(index, min(index + PREFETCH + 1, self.num_batches))
            suspects = [entry for feed in self.feeds for batch in ahead
                        for entry in self.records.entries_of(feed.numbers(batch))]
            raise ReadFailed("DALI failed on %s: %s" % (self.records.rec, _first_line(err)),
                             suspects) from None
        on_gpu = self.backend == "dali-gpu"
        ctxs = self.contexts if on_gpu else [mx.cpu_pinned(0)]
        data = [self._array(images, ctx) for (images, _), ctx in zip(outputs, ctxs)]
        label = [self._array(labels, ctx) for (_, labels), ctx in zip(outputs, ctxs)]
        kind = DeviceBatch if on_gpu else mx.io.DataBatch
        return kind(data=data, label=label, pad=self.pads(index))

    def _array(self, tensor_list, ctx):
        tensor = tensor_list.as_tensor()
        array = mx.nd.empty(tuple(tensor.shape()), ctx=ctx, dtype=np.float32)
        self.dali.feed_ndarray(tensor, array)
        return array


def _first_line(err):
    """The line of a DALI error that says what failed (its last before the stack trace), without
    DALI's source-file tags."""
    lines = str(err).split("Stacktrace")[0].strip().splitlines()
    text = re.sub(r"\[/[^\]]*\]\s*", "", lines[-1]).strip() if lines else ""
    return text or type(err).__name__


def train_iter(rec, idx, batch_size, input_size, backend="dali-cpu", contexts=None, steps=1,
               threads=4, num_parts=1, part_index=0, seed=0, epoch=0, start_batch=0):
    """Training batches of epoch ``epoch`` for worker ``part_index`` of ``num_parts`` (§2.1
    steps 1–3, raw RGB in [0, 255]; apply ``augment.device_augmenter`` on the device), from
    batch ``start_batch`` on. ``steps`` micro-batches per batch (``--accumulate``) tell
    ``dali-gpu`` how to share each batch over ``contexts``."""
    count = check_inputs(rec, idx, batch_size, input_size, threads)
    check_parts(rec, count, num_parts, part_index, batch_size, count // num_parts)
    devices = pipeline_devices(backend, contexts)
    plan = sampling.EpochPlan(count, batch_size, seed, epoch, num_parts, part_index)
    if not 0 <= start_batch <= plan.num_batches:
        raise UsageError("start batch %d is outside the epoch's 0..%d"
                         % (start_batch, plan.num_batches))
    records = Records(rec, idx)
    feeds = [_TrainFeed(records, plan, device_rows(batch_size, steps, len(devices), d),
                        start_batch) for d in range(len(devices))]
    share = batch_size // len(devices)

    def make(dali, feed, device):
        return _train_pipeline(dali, feed, share, input_size, device, threads)
    return DaliBatches(backend, records, feeds, make, plan.num_batches, batch_size,
                       lambda index: 0, contexts, start_batch)


def val_iter(rec, idx, batch_size, input_size, backend="dali-cpu", contexts=None, threads=4):
    """Validation batches as ``record.val_iter`` gives them, decoded by DALI."""
    count = check_inputs(rec, idx, batch_size, input_size, threads)
    devices = pipeline_devices(backend, contexts)
    num_batches = -(-count // batch_size)
    records = Records(rec, idx)
    feeds = [_ValFeed(records, batch_size, num_batches, device_rows(batch_size, 1, len(devices), d))
             for d in range(len(devices))]
    share = batch_size // len(devices)

    def make(dali, feed, device):
        return _val_pipeline(dali, feed, share, input_size, device, threads)

    def pad(index):
        return num_batches * batch_size - count if index == num_batches - 1 else 0
    return DaliBatches(backend, records, feeds, make, num_batches, batch_size, pad, contexts)
