"""What stopping and resuming mid-epoch costs: a ResNet-50 checkpoint's write time and size, and
the cost per image of restoring the data position (README: "Preemptible machines").

* Checkpoint: ResNet-50-D (1000 classes) after one NAG update on 1 and 2 CPU contexts, written
  with ``checkpoint.save`` (what a stop, a ``--checkpoint-minutes`` tick or an epoch end writes).
* Data position: ``rec`` (ImageRecordIter) re-creates the epoch's iterator with its seed and reads
  the consumed batches again (each one decoded and augmented), so a resume at batch k costs k
  batches of decoding; ``dali-cpu`` draws from (seed, epoch, rank, batch) and starts at batch k
  directly. Both are timed side by side on the demo set, per skipped image.

    PYTHONPATH=. python benchmarks/preemption_costs.py --repeats 3 --skip-batches 20
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import mxnet as mx
from mxnet import autograd, gluon

from gluon_tricks import checkpoint
from gluon_tricks.data import dali, recorditer
from gluon_tricks.models import get_model, initialize


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def checkpoint_cost(folder, num_devices, repeats):
    """(seconds per write, best of ``repeats``; bytes) of a ResNet-50-D checkpoint."""
    ctxs = [mx.cpu(i) for i in range(num_devices)]
    net = get_model("resnet50_v1d", classes=1000)
    initialize(net, ctx=ctxs)
    trainer = gluon.Trainer(net.collect_params(), "nag",
                            {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4},
                            update_on_kvstore=False)
    data = gluon.utils.split_and_load(mx.nd.random.uniform(shape=(2 * num_devices, 3, 224, 224)), ctxs)
    with autograd.record():
        losses = [net(x).sum() for x in data]
    autograd.backward(losses)
    trainer.step(2 * num_devices)
    mx.nd.waitall()
    times = []
    for r in range(repeats):
        root = os.path.join(folder, "ckpt-%d-%d" % (num_devices, r))
        start = time.perf_counter()
        path = checkpoint.save(root, 1, net, trainer, {"epoch": 1})
        times.append(time.perf_counter() - start)
    return min(times), folder_bytes(path)


def seconds_to_batch(make, skip):
    """Seconds from making an epoch's reader to holding batch ``skip`` (rec: reading and
    discarding ``skip`` batches; DALI: ``start_batch=skip``)."""
    start = time.perf_counter()
    batches = make()
    for _ in range(skip + 1):
        batch = next(batches)
    mx.nd.waitall()
    del batch
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for devices in (1, 2):
            seconds, size = checkpoint_cost(folder, devices, args.repeats)
            print("checkpoint ResNet-50-D, %d device(s): %.2f s per write, %.1f MB"
                  % (devices, seconds, size / 1e6))
        demo = os.path.join(folder, "demo")
        subprocess.run([sys.executable, "-m", "gluon_tricks", "make-demo-data", demo], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rec, idx = os.path.join(demo, "train.rec"), os.path.join(demo, "train.idx")
        size, skip, bs = 224, args.skip_batches, args.batch_size
        readers = {
            "rec": (lambda: iter(recorditer.train_iter(rec, idx, bs, size, threads=args.threads,
                                                   seed=1)),
                    lambda: iter(recorditer.train_iter(rec, idx, bs, size, threads=args.threads,
                                                   seed=1))),
            "dali-cpu": (lambda: iter(dali.train_iter(rec, idx, bs, size, threads=args.threads,
                                                      seed=1, epoch=0)),
                         lambda: iter(dali.train_iter(rec, idx, bs, size, threads=args.threads,
                                                      seed=1, epoch=0, start_batch=skip))),
        }
        for name, (from_start, at_batch) in readers.items():
            best_first = min(seconds_to_batch(from_start, 0) for _ in range(args.repeats))
            skipped = skip if name == "rec" else 0
            best_skip = min(seconds_to_batch(at_batch if name != "rec" else from_start, skipped)
                            for _ in range(args.repeats))
            per_image = max(best_skip - best_first, 0.0) / (skip * bs)
            print("%-8s first batch %.2f s; batch %d after a resume %.2f s; %.2f ms per skipped "
                  "image" % (name, best_first, skip, best_skip, 1000 * per_image))


if __name__ == "__main__":
    main()
