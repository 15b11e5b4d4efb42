"""Synthetic batches shaped like the record iterators' (shape, dtype, context): time the model alone."""
import mxnet as mx
import numpy as np

from .recorditer import Batches


class SyntheticBatches(Batches):
    """``num_batches`` copies per epoch of one random batch made once: (B, 3, S, S) data, (B,) labels.

    Data are N(0, 1) like normalized images, or uniform [0, 255] with ``raw=True`` like the
    ``--aug paper`` batches (colour on the device). Same interface as ``record.TrainBatches``: ``reset()``, iteration
    yielding ``mx.io.DataBatch`` with ``pad`` 0, ``num_batches`` and ``batch_size``.
    """

    def __init__(self, batch_size, input_size, classes, num_batches, raw=False, seed=0,
                 dtype="float32", ctx=None):
        rng = np.random.RandomState(seed)
        shape = (batch_size, 3, input_size, input_size)
        data = rng.uniform(0, 255, shape) if raw else rng.standard_normal(shape)
        ctx = ctx or mx.cpu_pinned(0)
        self.data = mx.nd.array(data, ctx=ctx, dtype=dtype)
        self.label = mx.nd.array(rng.randint(0, classes, batch_size), ctx=ctx, dtype="float32")
        super().__init__(num_batches, batch_size)

    def _batch(self, index):
        return mx.io.DataBatch(data=[self.data], label=[self.label], pad=0)
