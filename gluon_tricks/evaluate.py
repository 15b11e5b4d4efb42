"""Validation accuracy (paper §2.1): top-1 and top-5 over every validation image exactly once."""
import time

import mxnet as mx
import numpy as np

from .data.recorditer import split_to_contexts


def batch_outputs(net, batches, contexts, dtype="float32", limit=0):
    """Yield (outputs, labels, valid) for each of ``batches`` (reset first): ``net``'s outputs
    and the labels, one array per device, and how many of the batch's rows are images (the rest
    pad the last batch). ``limit`` > 0 stops after that many batches (quick checks)."""
    batches.reset()
    for i, batch in enumerate(batches):
        if limit and i >= limit:
            return
        xs, ys = split_to_contexts(batch, contexts)
        yield [net(x.astype(dtype, copy=False)) for x in xs], ys, batch.data[0].shape[0] - batch.pad


def evaluate(net, batches, contexts, dtype="float32", limit=0):
    """Top-1/top-5 accuracy of ``net`` over ``batches`` (padding excluded) and its speed.

    ``limit`` > 0 stops after that many batches (quick checks). Returns a dict with ``top1``,
    ``top5`` (fractions), ``images``, ``seconds`` and ``img_per_sec``.
    """
    hits1 = hits5 = seen = 0
    start = time.time()
    for outputs, ys, valid in batch_outputs(net, batches, contexts, dtype, limit):
        k = min(5, outputs[0].shape[1])
        ranked = np.concatenate([mx.nd.topk(o.astype("float32"), k=k, axis=1).asnumpy()
                                 for o in outputs])
        labels = np.concatenate([y.asnumpy() for y in ys])
        ranked = ranked[:valid].astype(np.int64)
        labels = labels[:valid].astype(np.int64)
        hits1 += int((ranked[:, 0] == labels).sum())
        hits5 += int((ranked == labels[:, None]).any(axis=1).sum())
        seen += valid
    seconds = time.time() - start
    return {"top1": hits1 / max(seen, 1), "top5": hits5 / max(seen, 1), "images": seen,
            "seconds": seconds, "img_per_sec": seen / seconds if seconds > 0 else 0.0}
