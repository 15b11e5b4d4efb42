"""``bench train``: is our training loop as fast as plain Gluon, and does data loading keep up?

(i) ``Run.step`` (the step ``gluon-tricks train`` runs) against a textbook Gluon step over the
same model, batch and devices. (ii) The training loop as ``train`` runs an epoch
(``Run.train_epoch``), fed from a ``.rec`` file and from synthetic batches, with the data-wait
share the progress lines report, and the ``.rec`` pipeline alone for its headroom. The variants
alternate (A B, then B A, ...) and each is summarised by its median, so that load from other
processes on a small machine hits them alike.

The loop's data-wait share is the time spent in ``next(batches)``. MXNet runs the step
asynchronously, and ImageRecordIter's ``next`` waits until the step has finished reading a
recycled batch buffer, so that share also counts compute the loop is waiting for; whether data
loading limits training shows in the .rec ÷ synthetic ratio and the pipeline's headroom.
"""
import contextlib
import io
import statistics
import tempfile
import time
from typing import List, NamedTuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..config import TrainConfig, resolve
from ..data import backends
from ..data.synthetic import SyntheticBatches
from ..distributed import Distribution
from ..errors import UsageError
from ..models import get_model, initialize
from ..runcore.metrics import MetricsLog, Progress, read_metrics
from ..classification import Run

HELP = ("images/s of training, side by side in alternating rounds: our step vs a plain Gluon "
        "step on one synthetic batch, and the training loop fed from a .rec vs synthetic "
        "batches (with the data-wait share)")

# Throughput does not depend on the lr; a small one keeps the random-data runs finite.
BENCH_LR = 0.01


class PlainLoop:
    """The minimal Gluon training step: hybridized net, SoftmaxCrossEntropyLoss, ``nag`` Trainer,
    ``autograd.record``, ``backward``, ``trainer.step`` (as in GluonCV's train_imagenet.py)."""

    def __init__(self, cfg, contexts):
        self.contexts = contexts
        self.dtype = cfg.dtype
        self.net = get_model(cfg.model, classes=cfg.classes)
        initialize(self.net, cfg.init, ctx=contexts)
        self.net(mx.nd.zeros((1, 3, cfg.input_size, cfg.input_size), ctx=contexts[0]))
        if cfg.fp16:
            self.net.cast("float16")
        self.net.hybridize(static_alloc=True, static_shape=True)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = gluon.Trainer(self.net.collect_params(), "nag",
                                     {"learning_rate": cfg.lr, "momentum": cfg.momentum,
                                      "wd": cfg.wd, "multi_precision": cfg.fp16})

    def step(self, batch):
        xs = gluon.utils.split_and_load(batch.data[0], self.contexts, even_split=True)
        ys = gluon.utils.split_and_load(batch.label[0], self.contexts, even_split=True)
        with autograd.record():
            losses = [self.loss(self.net(x.astype(self.dtype, copy=False)), y)
                      for x, y in zip(xs, ys)]
        for loss in losses:
            loss.backward()
        self.trainer.step(batch.data[0].shape[0])


class _EpochClock(Progress):
    """Progress that also remembers when the epoch's first batch was requested."""

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.started = self.clock()


class Row(NamedTuple):
    """One benchmark variant: its label and the img/s (and data-wait share) of each repetition."""

    label: str
    speeds: List[float]
    data_shares: List[float]

    @property
    def median(self):
        return statistics.median(self.speeds)

    def ratio(self, base):
        """Median over rounds of this row's img/s ÷ ``base``'s in the same round: paired rounds
        cancel the load that drifts between rounds."""
        return statistics.median(a / b for a, b in zip(self.speeds, base.speeds))


def configs(model, input_size, batch_size, steps, repeats, rec, idx, threads, devices, dtype,
            data_backend=backends.DEFAULT):
    """(config fed from ``rec``, the same config fed synthetic batches), both resolved as
    ``train`` resolves its flags, for ``repeats`` epochs of ``steps`` steps."""
    common = dict(model=model, input_size=input_size, batch_size=batch_size, lr=BENCH_LR,
                  num_epochs=max(repeats, 2), lr_mode="cosine", devices=devices,
                  dtype=dtype, batches_per_epoch=steps, threads=threads, log_interval=steps,
                  save_dir="unused", classes=0)
    rec_cfg = resolve(TrainConfig(rec_train=rec, rec_train_idx=idx, rec_val=rec, rec_val_idx=idx,
                                  data_backend=data_backend, **common), {})
    synthetic = dict(common, classes=rec_cfg.classes)
    return rec_cfg, resolve(TrainConfig(data_backend="synthetic", **synthetic), {})


def time_steps(step, batch, steps, warmup):
    """img/s of ``steps`` calls of ``step(batch)`` after ``warmup`` calls, waiting for all work."""
    for _ in range(warmup):
        step(batch)
    mx.nd.waitall()
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    mx.nd.waitall()
    return steps * batch.data[0].shape[0] / (time.perf_counter() - start)


def time_epoch(run, epoch):
    """(img/s, data-wait share) of one epoch of the real training loop: img/s from the first
    batch request until all the epoch's work is done (the progress line stops at the last loss,
    before the last backward and update), the share from the loop's own progress line."""
    progress = _EpochClock(epoch + 1, run.iters, every=run.iters, clock=time.perf_counter)
    with tempfile.TemporaryDirectory() as folder, MetricsLog(folder) as log, \
            contextlib.redirect_stdout(io.StringIO()):
        run.train_epoch(epoch, progress, log)
        mx.nd.waitall()
        seconds = time.perf_counter() - progress.started
        share = read_metrics(log.path)[-1]["data_share"]
    return run.iters * run.local_batch / seconds, share


def time_pipeline(run, epoch):
    """img/s of the training batches of ``run``'s epoch ``epoch`` alone, without training."""
    batches = run.epoch_batches(epoch)
    start = time.perf_counter()
    for _ in range(run.iters):
        next(batches).data[0].wait_to_read()
    return run.iters * run.local_batch / (time.perf_counter() - start)


def bench(rec_cfg, synthetic_cfg, repeats, warmup, say=print):
    """Run both comparisons, ``repeats`` interleaved rounds each; returns the five Rows."""
    rec_run = Run(rec_cfg, Distribution(rec_cfg))
    if rec_run.iters < rec_cfg.batches_per_epoch:
        raise UsageError("%s holds only %d batches of %d; pass --steps %d or less"
                         % (rec_cfg.rec_train, rec_run.iters, rec_run.local_batch, rec_run.iters))
    synthetic_run = Run(synthetic_cfg, Distribution(synthetic_cfg))
    plain = PlainLoop(synthetic_cfg, synthetic_run.contexts)
    batch = next(SyntheticBatches(synthetic_run.local_batch, synthetic_cfg.input_size,
                                  synthetic_cfg.classes, 1, seed=synthetic_cfg.seed))
    rng = np.random.RandomState(synthetic_cfg.seed)

    def ours(b):
        synthetic_run.step(b, False, rng)

    for run in (rec_run, synthetic_run):       # build both cached graphs before any timing
        for _ in range(max(warmup, 1)):
            run.step(batch, False, rng)
    mx.nd.waitall()
    steps = synthetic_cfg.batches_per_epoch
    rows = [Row("(i-a) ours: Run.step (train's step), synthetic batch", [], []),
            Row("(i-b) plain Gluon: Trainer 'nag' + autograd.record + backward + step", [], []),
            Row("(ii-a) train loop, .rec input (%s, %s aug, %d threads)"
                % (rec_cfg.data_backend, rec_cfg.aug, rec_cfg.threads), [], []),
            Row("(ii-b) train loop, synthetic input", [], []),
            Row("(ii-c) the .rec input pipeline alone, no training", [], [])]
    for r in range(repeats):
        order = slice(None, None, 1 if r % 2 == 0 else -1)   # A B, then B A: no side goes first
        for row, step in ((rows[0], ours), (rows[1], plain.step))[order]:
            row.speeds.append(time_steps(step, batch, steps, warmup))
        for row, run in ((rows[2], rec_run), (rows[3], synthetic_run))[order]:
            speed, share = time_epoch(run, r)
            row.speeds.append(speed)
            row.data_shares.append(share)
        rows[4].speeds.append(time_pipeline(rec_run, r))
        say("round %d/%d: %s img/s" % (r + 1, repeats,
                                        " / ".join("%.1f" % row.speeds[-1] for row in rows)))
    return rows


def format_table(rows, rec_cfg, repeats, warmup):
    """Markdown table of the medians and paired ratios, the verdicts and the settings."""
    ours, plain, rec, synthetic, pipeline = rows
    lines = ["| variant | img/s (median) | per round | data wait | ratio (paired median) |",
             "|---|---:|---|---:|---:|"]
    for row, base, base_tag in ((ours, plain, "(i-b)"), (plain, plain, "(i-b)"),
                                (rec, synthetic, "(ii-b)"), (synthetic, synthetic, "(ii-b)"),
                                (pipeline, synthetic, "(ii-b)")):
        wait = ("%.1f%%" % (100 * statistics.median(row.data_shares))
                if row.data_shares else "–")
        lines.append("| %s | %.1f | %s | %s | %.3f × %s |"
                     % (row.label, row.median, " ".join("%.0f" % s for s in row.speeds), wait,
                        row.ratio(base), base_tag))
    lines += [
        "",
        "ours ÷ plain = %.3f (target ≥ 0.97); .rec ÷ synthetic = %.3f with data wait %.1f%%; "
        "the pipeline alone yields %.1f× what training consumes"
        % (ours.ratio(plain), rec.ratio(synthetic), 100 * statistics.median(rec.data_shares),
           pipeline.ratio(rec)),
        "%s, %d×%d, batch %d per device on %s, %s; %d rounds (A B, B A, ...), each %d steps "
        "(step rows: after %d warm-up steps); .rec: %s"
        % (rec_cfg.model, rec_cfg.input_size, rec_cfg.input_size, rec_cfg.batch_size,
           rec_cfg.devices, rec_cfg.dtype, repeats, rec_cfg.batches_per_epoch, warmup,
           rec_cfg.rec_train),
    ]
    return "\n".join(lines)


def run(args):
    """Run both comparisons on ``args.rec``/``args.idx`` and print the table."""
    rec_cfg, synthetic_cfg = configs(
        args.model, args.input_size, args.batch_size, args.steps, args.repeats, args.rec, args.idx,
        args.threads, args.devices, args.dtype, args.data_backend)
    rows = bench(rec_cfg, synthetic_cfg, args.repeats, args.warmup)
    print(format_table(rows, rec_cfg, args.repeats, args.warmup))
    return 0
