"""``gluon-tricks bench``: throughput benchmarks. ``bench data`` times the input pipelines of §2.1;
``bench train`` compares our training step and loop with plain Gluon and with synthetic input."""
import contextlib
import os
import tempfile
import time

import mxnet as mx

from ..bench import prepare as bench_prepare
from ..config import DTYPES, TrainConfig
from ..data import augment, record
from ..errors import UsageError
from ..models import list_models

NAME = "bench"
HELP = ("measure throughput (bench data: the training input pipelines; bench train: the "
        "training step and loop), images per second")
DATA_HELP = ("images/s of the training input pipelines on one .rec, side by side: decode+crop "
             "floor, the paper's ImageRecordIter pipeline, the on-device augmentation variant, "
             "and GluonCV's ImageRecordDataset+DataLoader pipeline")
TRAIN_HELP = ("images/s of training, side by side in alternating rounds: our step vs a plain Gluon "
              "step on one synthetic batch, and the training loop fed from a .rec vs synthetic "
              "batches (with the data-wait share)")

WARMUP_BATCHES = 2
# GluonCV's transforms work on [0, 1] tensors, so their normalization is ours divided by 255.
UNIT_MEAN = tuple(m / 255 for m in augment.MEAN_RGB)
UNIT_STD = tuple(s / 255 for s in augment.STD_RGB)


def configure(parser):
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK",
                                       parser_class=type(parser))
    data = benchmarks.add_parser("data", help=DATA_HELP, description=DATA_HELP)
    configure_data(data)
    data.set_defaults(bench_run=run_data)
    train = benchmarks.add_parser("train", help=TRAIN_HELP, description=TRAIN_HELP)
    configure_train(train)
    train.set_defaults(bench_run=run_train)
    prepare = benchmarks.add_parser("prepare", help=bench_prepare.HELP, description=bench_prepare.HELP)
    bench_prepare.configure(prepare)
    prepare.set_defaults(bench_run=bench_prepare.run)


def run(args):
    if not getattr(args, "bench_run", None):
        raise UsageError("choose a benchmark: `gluon-tricks bench data --rec FILE` or "
                         "`gluon-tricks bench train --rec FILE`")
    return args.bench_run(args)


def configure_data(parser):
    parser.add_argument("--rec", required=True, metavar="FILE", help="the RecordIO file to read")
    parser.add_argument("--idx", metavar="FILE", help="its index (default: FILE with .idx)")
    parser.add_argument("--threads", type=int, default=4, metavar="N",
                        help="ImageRecordIter decoding threads and DataLoader workers (default 4)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B", help="default 32")
    parser.add_argument("--input-size", type=int, default=224, metavar="S", help="default 224")
    parser.add_argument("--batches", type=int, default=50, metavar="K",
                        help="batches timed per pipeline, after %d warm-up batches (default 50)"
                        % WARMUP_BATCHES)


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
    source, _ = record.record_iter(args.rec, args.idx, args.batch_size, args.input_size,
                                   args.threads, shuffle=True, round_batch=True,
                                   **record.RANDOM_RESIZED_CROP)
    return record.TrainBatches(source, args.batches, args.batch_size), wait


def paper_pipeline(args):
    """(b) All of §2.1 in ImageRecordIter's C++ threads."""
    return record.train_iter(args.rec, args.idx, args.batch_size, args.input_size,
                             threads=args.threads), wait


def device_pipeline(args):
    """(c) ImageRecordIter to the flip, then steps 4–6 as one HybridBlock on mx.cpu()."""
    ctx = [mx.cpu()]
    block = augment.device_augmenter("paper", ctx)

    def consume(batch):
        data, _ = record.split_to_contexts(batch, ctx)
        block(data[0]).wait_to_read()
    return record.train_iter(args.rec, args.idx, args.batch_size, args.input_size,
                             aug_device=True, threads=args.threads), consume


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
    if os.path.splitext(rec)[0] + ".idx" == idx:
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
    ("(b)", "paper: ImageRecordIter, all of §2.1 in C++ threads"),
    ("(c)", "aug-device: ImageRecordIter to the flip + colour/PCA/normalize block on cpu"),
    ("(d)", "GluonCV: ImageRecordDataset + gluon transforms + DataLoader"),
)


def run_data(args):
    for value, flag in ((args.threads, "--threads"), (args.batch_size, "--batch-size"),
                        (args.input_size, "--input-size"), (args.batches, "--batches")):
        if value < 1:
            raise UsageError("%s must be a positive integer, got %d" % (flag, value))
    args.idx = args.idx or os.path.splitext(args.rec)[0] + ".idx"
    count = record.check_inputs(args.rec, args.idx, args.batch_size, args.input_size, args.threads)
    if count < args.batch_size:
        raise UsageError("%s has %d records, fewer than the batch size %d; pass a smaller "
                         "--batch-size" % (args.rec, count, args.batch_size))
    with rec_beside_idx(args.rec, args.idx) as rec:
        builders = (floor_pipeline, paper_pipeline, device_pipeline,
                    lambda a: gluoncv_pipeline(a, rec))
        speeds = []
        for build in builders:
            batches, consume = build(args)
            speeds.append(images_per_second(batches, args.batches, args.batch_size, consume))
            del batches
    print(format_table(speeds, args, count))
    return 0


def format_table(speeds, args, count):
    """Markdown table of img/s with ratios to (a) and (d), then the (b) targets and the settings."""
    floor, paper, gluoncv = speeds[0], speeds[1], speeds[3]
    lines = ["| pipeline | img/s | ÷ (a) | ÷ (d) |", "|---|---:|---:|---:|"]
    for (tag, label), speed in zip(ROWS, speeds):
        lines.append("| %s %s | %.0f | %.2f | %.2f |" % (tag, label, speed, speed / floor,
                                                        speed / gluoncv))
    lines += [
        "",
        "(b)/(a) = %.2f (target ≥ 0.85); (b)/(d) = %.2f (target ≥ 1.5)" % (paper / floor,
                                                                         paper / gluoncv),
        "%s: %d records; batch %d, %d×%d, %d timed batches per pipeline after %d warm-up; "
        "--threads %d: ImageRecordIter decodes with %d thread(s), DataLoader uses %d worker "
        "process(es)" % (args.rec, count, args.batch_size, args.input_size, args.input_size,
                         args.batches, WARMUP_BATCHES, args.threads,
                         decoding_threads(args.threads), args.threads),
    ]
    return "\n".join(lines)


def configure_train(parser):
    defaults = TrainConfig()
    parser.add_argument("--rec", required=True, metavar="FILE",
                        help="training RecordIO file (its .classes file, if any, sets the classes)")
    parser.add_argument("--idx", metavar="FILE", help="its index (default: FILE with .idx)")
    parser.add_argument("--model", default="resnet18_v1b", choices=list_models(), metavar="NAME",
                        help="network (default resnet18_v1b)")
    parser.add_argument("--input-size", type=int, default=112, metavar="S", help="default 112")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B",
                        help="images per device per step (default 32)")
    parser.add_argument("--steps", type=int, default=30, metavar="K",
                        help="steps per variant per round (default 30)")
    parser.add_argument("--warmup", type=int, default=3, metavar="W",
                        help="untimed steps before each step-row timing (default 3)")
    parser.add_argument("--repeats", type=int, default=3, metavar="R",
                        help="rounds; each round runs every variant once (default 3)")
    parser.add_argument("-j", "--threads", type=int, default=defaults.threads, metavar="N",
                        help="decoding threads (default %d, as train)" % defaults.threads)
    parser.add_argument("--gpus", default=None, help="GPU ids, e.g. 0,1")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="number of CPU contexts (default 1)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")


def run_train(args):
    from .. import bench_train
    for value, flag in ((args.steps, "--steps"), (args.repeats, "--repeats")):
        if value < 1:
            raise UsageError("%s must be a positive integer, got %d" % (flag, value))
    if args.warmup < 0:
        raise UsageError("--warmup must be ≥ 0, got %d" % args.warmup)
    if args.dtype == "float16" and not args.gpus:
        raise UsageError("--dtype float16 needs --gpus: MXNet has no FP16 matrix multiply on CPU")
    idx = args.idx or os.path.splitext(args.rec)[0] + ".idx"
    rec_cfg, synthetic_cfg = bench_train.configs(
        args.model, args.input_size, args.batch_size, args.steps, args.repeats, args.rec, idx,
        args.threads, args.gpus, args.cpus, args.dtype)
    rows = bench_train.bench(rec_cfg, synthetic_cfg, args.repeats, args.warmup)
    print(bench_train.format_table(rows, rec_cfg, args.repeats, args.warmup))
    return 0
