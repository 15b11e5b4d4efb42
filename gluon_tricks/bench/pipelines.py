"""``bench data``: images/s of the training input pipelines of §2.1 on one .rec, side by side:
the decode+crop floor, ``--aug paper-decoder`` (all in ImageRecordIter), ``--aug paper`` (colour
on the device), GluonCV's ImageRecordDataset + DataLoader pipeline, and ``--data-backend
dali-cpu`` alone (decode + crop + flip) and with the colour block (when DALI is installed)."""
import contextlib
import os
import tempfile
import time

import mxnet as mx

from ..data import augment, dali, recorditer
from ..data.recordfile import index_path
from ..errors import UsageError

HELP = ("images/s of the training input pipelines on one .rec, side by side: decode+crop "
        "floor, --aug paper-decoder (all in ImageRecordIter), --aug paper (colour on the device), "
        "GluonCV's ImageRecordDataset+DataLoader pipeline, and DALI's (dali-cpu)")

WARMUP_BATCHES = 2
# GluonCV's transforms work on [0, 1] tensors, so their normalization is ours divided by 255.
UNIT_MEAN = tuple(m / 255 for m in augment.MEAN_RGB)
UNIT_STD = tuple(s / 255 for s in augment.STD_RGB)


def take(batches, count):
    """``count`` batches, restarting ``batches`` (reset() or a new iter()) whenever it runs out."""
    produced = 0
    while produced < count:
        if hasattr(batches, "reset"):
            batches.reset()
        for batch in batches:
            yield batch
            produced += 1
            if produced == count:
                return


def images_per_second(batches, count, batch_size, consume):
    """Throughput of ``count`` batches after the warm-up; ``consume`` waits for one batch."""
    stream = take(batches, WARMUP_BATCHES + count)
    for _ in range(WARMUP_BATCHES):
        consume(next(stream))
    start = time.perf_counter()
    for batch in stream:
        consume(batch)
    return count * batch_size / (time.perf_counter() - start)


def wait(batch):
    batch.data[0].wait_to_read()


def floor_pipeline(args):
    """(a) ImageRecordIter decoding and random-resized-cropping only."""
    source, _ = recorditer.record_iter(args.rec, args.idx, args.batch_size, args.input_size,
                                   args.threads, shuffle=True, round_batch=True,
                                   **recorditer.RANDOM_RESIZED_CROP)
    return recorditer.TrainBatches(source, args.batches, args.batch_size), wait


def decoder_pipeline(args):
    """(b) ``--aug paper-decoder``: all of §2.1 in ImageRecordIter's C++ threads."""
    return recorditer.train_iter(args.rec, args.idx, args.batch_size, args.input_size,
                             aug="paper-decoder", threads=args.threads), wait


def colour_block_on_cpu():
    """A consumer that runs steps 4–6 as one HybridBlock on mx.cpu(), as training would on the
    device, and waits for the result."""
    ctx = [mx.cpu()]
    block = augment.device_augmenter("paper", ctx)

    def consume(batch):
        data, _ = recorditer.split_to_contexts(batch, ctx)
        block(data[0]).wait_to_read()
    return consume


def device_pipeline(args):
    """(c) ``--aug paper`` on ``rec``: ImageRecordIter to the flip, then the colour block."""
    return recorditer.train_iter(args.rec, args.idx, args.batch_size, args.input_size,
                             aug="paper", threads=args.threads), colour_block_on_cpu()


def dali_batches(args):
    return dali.train_iter(args.rec, args.idx, args.batch_size, args.input_size, "dali-cpu",
                           threads=args.threads)


def dali_floor_pipeline(args):
    """(e) ``--data-backend dali-cpu`` to the flip: read, draw, decode the window, resize, flip."""
    return dali_batches(args), wait


def dali_paper_pipeline(args):
    """(f) ``--data-backend dali-cpu --aug paper``: (e), then the colour block."""
    return dali_batches(args), colour_block_on_cpu()


def gluoncv_pipeline(args, rec):
    """(d) GluonCV's Python pipeline: ImageRecordDataset + transforms in DataLoader workers."""
    transforms = mx.gluon.data.vision.transforms
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.input_size),
        transforms.RandomFlipLeftRight(),
        transforms.RandomColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
        transforms.RandomLighting(0.1),
        transforms.ToTensor(),
        transforms.Normalize(UNIT_MEAN, UNIT_STD),
    ])
    dataset = mx.gluon.data.vision.ImageRecordDataset(rec).transform_first(transform)
    loader = mx.gluon.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                      last_batch="discard", num_workers=args.threads)
    return loader, lambda batch: batch[0].wait_to_read()


@contextlib.contextmanager
def rec_beside_idx(rec, idx):
    """A .rec path whose index is its sibling ``.idx``, as ImageRecordDataset requires."""
    if index_path(rec) == idx:
        yield rec
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.abspath(rec), os.path.join(tmp, "data.rec"))
        os.symlink(os.path.abspath(idx), os.path.join(tmp, "data.idx"))
        yield os.path.join(tmp, "data.rec")


def decoding_threads(threads):
    """Threads ImageRecordIter really uses: it caps the request at max(cores / 2 − 1, 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(threads, max(cores // 2 - 1, 1))


ROWS = (
    ("(a)", "ImageRecordIter: decode + random resized crop only (floor)"),
    ("(b)", "paper-decoder: ImageRecordIter, all of §2.1 in C++ threads"),
    ("(c)", "rec, paper: ImageRecordIter to the flip + colour/PCA/normalize block on cpu"),
    ("(d)", "GluonCV: ImageRecordDataset + gluon transforms + DataLoader"),
    ("(e)", "dali-cpu: DALI decode of the drawn window + resize + flip only"),
    ("(f)", "dali-cpu, paper (the default): (e) + colour/PCA/normalize block on cpu"),
)


def run(args):
    """Time every pipeline on ``args.rec``/``args.idx`` and print the table."""
    count = recorditer.check_inputs(args.rec, args.idx, args.batch_size, args.input_size, args.threads)
    if count < args.batch_size:
        raise UsageError("%s has %d records, fewer than the batch size %d; pass a smaller "
                         "--batch-size" % (args.rec, count, args.batch_size))
    try:
        dali.modules("dali-cpu")
        missing = None
    except UsageError as err:
        missing = str(err)
    with rec_beside_idx(args.rec, args.idx) as rec:
        builders = [floor_pipeline, decoder_pipeline, device_pipeline,
                    lambda a: gluoncv_pipeline(a, rec)]
        if missing is None:
            builders += [dali_floor_pipeline, dali_paper_pipeline]
        speeds = []
        for build in builders:
            batches, consume = build(args)
            speeds.append(images_per_second(batches, args.batches, args.batch_size, consume))
            del batches
    print(format_table(speeds, args, count, missing))
    return 0


def format_table(speeds, args, count, missing=None):
    """Markdown table of img/s with ratios to (a) and (d), then the targets for (c) and for (b),
    the DALI ratios (or why the DALI rows are missing), and the settings."""
    floor, decoder, paper, gluoncv = speeds[:4]
    lines = ["| pipeline | img/s | ÷ (a) | ÷ (d) |", "|---|---:|---:|---:|"]
    for (tag, label), speed in zip(ROWS, speeds):
        lines.append("| %s %s | %.0f | %.2f | %.2f |" % (tag, label, speed, speed / floor,
                                                        speed / gluoncv))
    lines += [
        "",
        "(c)/(a) = %.2f (target ≥ 0.85); (c)/(d) = %.2f (target ≥ 1.5); (b)/(a) = %.2f; "
        "(b)/(d) = %.2f" % (paper / floor, paper / gluoncv, decoder / floor, decoder / gluoncv),
        ("(e), (f) left out: %s" % missing) if missing else
        "(e)/(a) = %.2f; (f)/(c) = %.2f" % (speeds[4] / floor, speeds[5] / paper),
        "%s: %d records; batch %d, %d×%d, %d timed batches per pipeline after %d warm-up; "
        "--threads %d: ImageRecordIter decodes with %d thread(s), DataLoader uses %d worker "
        "process(es), DALI %d thread(s)" % (args.rec, count, args.batch_size, args.input_size,
                                            args.input_size, args.batches, WARMUP_BATCHES,
                                            args.threads, decoding_threads(args.threads),
                                            args.threads, args.threads),
    ]
    return "\n".join(lines)
