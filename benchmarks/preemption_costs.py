"""What surviving preemption costs (not run in CI): the write time and size of a ResNet-50
checkpoint, and the time a run resumed within an epoch spends reaching its batch.

    python benchmarks/preemption_costs.py [--images 1000] [--threads 2]

1. Checkpoint: ``resnet50_v1d`` (1000 classes) after one NAG update on the CPU in float32, so it
   holds the parameters, the momentum and the BatchNorm statistics; ``gluon_tricks.checkpoint.save``
   into a folder on this disk, three times (the mean and the size are printed). An FP16 run adds
   its float32 master weights: about one more copy of the parameters.
2. Skip: the demo set's JPEGs (300-500 px, as ImageNet's) read for 224 px crops in batches of
   32 from batch k of an epoch: ``rec`` (ImageRecordIter) makes and drops the k batches before
   it, ``dali-cpu`` starts at batch k; the seconds per skipped image, each reader measured
   side by side in this one process.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import mxnet as mx
from mxnet import autograd, gluon

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from gluon_tricks import checkpoint  # noqa: E402
from gluon_tricks.data import dali  # noqa: E402
from gluon_tricks.data.recorditer import train_iter  # noqa: E402
from gluon_tricks.datasets.demo import make_demo_data  # noqa: E402
from gluon_tricks.models import get_model, initialize  # noqa: E402

BATCH, SIZE = 32, 224


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def checkpoint_cost(work):
    """(mean seconds of a save, bytes) for a ResNet-50 with NAG state."""
    net = get_model("resnet50_v1d", classes=1000)
    initialize(net, "xavier", ctx=[mx.cpu()])
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": 0.1, "momentum": 0.9},
                            update_on_kvstore=False)
    x, y = mx.nd.random.uniform(shape=(2, 3, SIZE, SIZE)), mx.nd.array([1, 2])
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
    loss.backward()
    trainer.step(2)
    mx.nd.waitall()
    root = os.path.join(work, "checkpoints")
    seconds = []
    for epoch in range(1, 4):
        start = time.perf_counter()
        path = checkpoint.save(root, epoch, net, trainer, {"epoch": epoch})
        seconds.append(time.perf_counter() - start)
    return sum(seconds) / len(seconds), folder_bytes(path)


def skip_seconds(make, start):
    """Seconds until batch ``start`` of the epoch is in hand (the reader made at batch 0 is
    counted, and subtracted by the caller with ``start`` = 0)."""
    began = time.perf_counter()
    batches = make(start)
    batch = next(batches)
    batch.data[0].wait_to_read()
    seconds = time.perf_counter() - began
    batches.close()
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="training images (default 1000)")
    parser.add_argument("--threads", type=int, default=2, help="decoding threads (default 2)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="preemption-costs-", dir=ROOT)
    try:
        seconds, size = checkpoint_cost(work)
        print("checkpoint of resnet50_v1d (float32, NAG momentum, 1 device): %.2f s to write, "
              "%.1f MB" % (seconds, size / 1e6))
        data = make_demo_data(os.path.join(work, "data"), classes=10,
                              train_per_class=args.images // 10, val_per_class=1, progress=False)
        rec, idx = data["train_rec"], data["train_idx"]
        skip = (args.images // BATCH) - 2

        def record_reader(start):
            batches = train_iter(rec, idx, BATCH, SIZE, aug="paper", threads=args.threads, seed=1)
            for _ in range(start):
                next(batches)
            return batches

        def dali_reader(start):
            return dali.train_iter(rec, idx, BATCH, SIZE, "dali-cpu", [mx.cpu()],
                                   threads=args.threads, seed=1, start_batch=start)

        for name, make in (("rec", record_reader), ("dali-cpu", dali_reader)):
            first = skip_seconds(make, 0)
            later = skip_seconds(make, skip)
            print("%s: first batch %.2f s; batch %d (%d images skipped) %.2f s: %.2f ms per "
                  "skipped image" % (name, first, skip, skip * BATCH, later,
                                     1000 * (later - first) / (skip * BATCH)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
