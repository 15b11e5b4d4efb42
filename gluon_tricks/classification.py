"""The training loop: every part maps to a section of the paper.

Baseline (§2.1): NAG, Xavier init, the six-step augmentation. Efficient training (§3): linear
scaling, warmup, zero γ, no bias decay, FP16 with master weights. Refinements (§5): cosine decay,
label smoothing, distillation, mixup. A run folder collects config.json, metrics.jsonl, the
checkpoints and the plots. Beyond the paper: fine-tuning from trained weights (``--pretrained``)
and the paper's total batch on fewer devices by gradient accumulation (``--accumulate``).

The run folder, resume, metrics, checkpoints and plots are the run core's
(:mod:`gluon_tricks.runcore`), shared with ``detect`` and ``segment``; this module is the
classification task in it. Resume is exact: each epoch re-seeds Python, NumPy, MXNet and the data
iterator from (seed, epoch, rank), and a checkpoint holds parameters, every device's optimizer
state, the update count and the loss scale.
"""
import contextlib
import os

import mxnet as mx
import numpy as np
from mxnet import autograd

from . import finetune, weights
from .data import backends, dali
from .data.augment import device_augmenter, on_device
from .data.mixup import mixup, mixup_active
from .data.recorditer import split_to_contexts, train_iter
from .data.recordfile import (REPAIR_HINT, check_decodable, name_undecodable, scan_records,
                              undecodable_records)
from .data.synthetic import SyntheticBatches
from .distributed import Distribution
from .errors import TrainingFailed, UsageError
from .evaluate import evaluate
from .loss import DistillationLoss, SoftmaxCrossEntropy
from .lr_scheduler import scheduler_from_config
from .models import get_model, initialize
from .precision import LossScaler, apply_update, check_device
from .runcore import loop
from .runcore.report import summarize
from .seeds import epoch_seed, seed_everything


def no_bias_decay(net):
    """§3.2 "no bias decay": weight decay only on conv and dense weights. Returns the names of
    the parameters whose ``wd_mult`` was set to 0 (biases, BN γ and β)."""
    exempt = []
    for name, param in net.collect_params().items():
        if param.grad_req != "null" and not name.endswith("weight"):
            param.wd_mult = 0.0
            exempt.append(name)
    return exempt


def build_network(cfg, contexts):
    """The student: initialised (§2.1), zero γ (§3.2) and cast to the training dtype; BN keeps
    float32 parameters under ``cast("float16")``. Gradients add up over micro-batches when
    ``cfg.accumulate`` > 1 (``grad_req='add'``; the step zeroes them after each update).

    Shapes come from symbolic inference, not a forward pass: an imperative inference forward
    re-lays conv weights out for oneDNN asynchronously, which can scramble them under the first
    update and which the dist kvstore cannot read (initial values are the same either way).
    """
    net = get_model(cfg.model, classes=cfg.classes, last_gamma=cfg.last_gamma)
    net.infer_shape(mx.nd.zeros((1, 3, cfg.input_size, cfg.input_size)))
    initialize(net, cfg.init, ctx=contexts)
    if cfg.no_wd:
        no_bias_decay(net)
    if cfg.accumulate > 1:
        accumulate_gradients(net)
    if cfg.fp16:
        net.cast("float16")
    net.hybridize(static_alloc=True, static_shape=True)
    return net


def accumulate_gradients(net):
    """``grad_req='add'`` on every trainable parameter of ``net``: each backward adds to the
    gradient, and :meth:`Run.step` zeroes it after the update of N micro-batches."""
    for param in net.collect_params().values():
        if param.grad_req != "null":
            param.grad_req = "add"


def micro_batches(batch, steps):
    """``batch`` cut into ``steps`` equal consecutive parts: a host batch before anything is
    copied to a device, a ``DeviceBatch`` (``dali-gpu``) on each device alike."""
    if steps == 1:
        return [batch]
    size = batch.data[0].shape[0] // steps
    return [type(batch)(data=[a[m * size:(m + 1) * size] for a in batch.data],
                        label=[a[m * size:(m + 1) * size] for a in batch.label], pad=0)
            for m in range(steps)]


def build_teacher(cfg, contexts):
    """The distillation teacher (§5.3): loaded weights, inference only, cast like the student."""
    path = weights.resolve_params(cfg.teacher_params, role="teacher", flag="--teacher-params")
    classes = weights.classifier_classes(path)
    if classes != cfg.classes:
        raise UsageError("teacher %s in %s has %s output classes but the student has %d; use a "
                         "teacher trained on the same classes" % (cfg.teacher, path, classes, cfg.classes))
    teacher = weights.load_params(get_model(cfg.teacher, classes=cfg.classes), path, cfg.teacher,
                                  ctx=contexts, model_flag="--teacher")
    if cfg.fp16:
        teacher.cast("float16")
    teacher.hybridize(static_alloc=True, static_shape=True)
    return teacher


def build_loss(cfg):
    """Cross-entropy with optional label smoothing (eq. 4), or distillation (eq. 6)."""
    if cfg.teacher:
        loss = DistillationLoss(cfg.classes, temperature=cfg.temperature,
                                hard_weight=cfg.hard_weight, smoothing=cfg.label_smoothing,
                                style=cfg.smoothing_style)
    else:
        loss = SoftmaxCrossEntropy(cfg.classes, smoothing=cfg.label_smoothing,
                                   style=cfg.smoothing_style)
    loss.hybridize()
    return loss


def optimizer_params(cfg, scheduler):
    """MXNet ``nag`` settings (§2.1); ``multi_precision`` keeps float32 master weights (§3.2)."""
    return {"learning_rate": cfg.lr, "momentum": cfg.momentum, "wd": cfg.wd,
            "lr_scheduler": scheduler, "multi_precision": cfg.fp16}


class Run(loop.Training):
    """One training run: builds everything from the config, then :meth:`fit` (the run core's)
    trains it from the start or, for ``--resume``, from ``resume_from`` (see
    :func:`gluon_tricks.runcore.resume.resume_point`). The classification task: the batches,
    one update and the evaluation (§2.1)."""

    score, score_label, metric_name = "top1", "val top-1", "train-acc"

    def __init__(self, cfg, dist, resume_from=None):
        self.dist, self.rank, self.is_root = dist, dist.rank, dist.is_root
        super().__init__(cfg, resume_from)
        self.contexts = dist.contexts
        self.micro_batch = cfg.batch_size * len(self.contexts)     # one forward on every device
        self.local_batch = self.micro_batch * cfg.accumulate       # this process's images per update
        self.images_per_update = self.local_batch
        with self.reading("train", "the start"):
            first = self.epoch_batches(0)
            self.iters = first.num_batches
            first.close()
        with self.reading("val", "the start"):
            self.val = self._val_batches() if dist.is_root else None
        if cfg.batches_per_epoch:
            self.iters = min(self.iters, cfg.batches_per_epoch)

        seed_everything(epoch_seed(cfg.seed, -1, 0))
        self.net = build_network(cfg, self.contexts)
        if (cfg.pretrained or cfg.use_pretrained) and not resume_from:
            self.say(finetune.start_from(self.net, cfg))
        self.teacher = build_teacher(cfg, self.contexts) if cfg.teacher else None
        self.loss = build_loss(cfg)
        self.augmenters = ([device_augmenter(cfg.aug, c) for c in self.contexts]
                           if on_device(cfg.aug) else None)
        self.eval_net = build_network(cfg, self.contexts) if dist.is_root else None
        self.scheduler = scheduler_from_config(cfg.to_dict(), self.iters)
        finetune.set_body_lr_mult(self.net, cfg.lr_mult_body)
        self.trainer = dist.make_trainer(self.net.collect_params(), cfg.optimizer,
                                         optimizer_params(cfg, self.scheduler))
        self.params = [p for p in self.net.collect_params().values() if p.grad_req != "null"]
        self.scaler = LossScaler(cfg.loss_scale) if cfg.fp16 else None
        self.use_mixup = False
        if resume_from:
            self.restore(resume_from)
        else:
            dist.broadcast(self.net)

    # -- data -------------------------------------------------------------------------------
    def epoch_batches(self, epoch, start=0):
        """The training batches of epoch ``epoch`` from batch ``start`` on, seeded from (seed,
        epoch, rank): DALI starts there directly (its draws are a function of the batch), the
        other readers make and drop the ``start`` batches before it."""
        cfg, seed = self.cfg, epoch_seed(self.cfg.seed, epoch, self.dist.rank)
        if cfg.data_backend in backends.DALI:
            return dali.train_iter(cfg.rec_train, cfg.rec_train_idx, self.local_batch,
                                   cfg.input_size, cfg.data_backend, self.contexts,
                                   steps=cfg.accumulate, threads=cfg.threads,
                                   num_parts=self.dist.size, part_index=self.dist.rank,
                                   seed=cfg.seed, epoch=epoch, start_batch=start)
        if cfg.data_backend == "synthetic":
            batches = SyntheticBatches(self.local_batch, cfg.input_size, cfg.classes,
                                       cfg.batches_per_epoch or 100, raw=on_device(cfg.aug),
                                       seed=seed)
        else:
            batches = train_iter(cfg.rec_train, cfg.rec_train_idx, self.local_batch,
                                 cfg.input_size, aug=cfg.aug, threads=cfg.threads,
                                 num_parts=self.dist.size, part_index=self.dist.rank, seed=seed)
        for _ in range(start):
            next(batches)
        return batches

    def _val_batches(self):
        cfg = self.cfg
        if cfg.data_backend == "synthetic":
            return SyntheticBatches(self.micro_batch, cfg.input_size, cfg.classes, 2,
                                    seed=cfg.seed)
        return backends.val_batches(cfg.data_backend, cfg.rec_val, cfg.rec_val_idx,
                                    self.micro_batch, cfg.input_size, cfg.threads, self.contexts)

    # -- what the run core asks -------------------------------------------------------------
    def state(self):
        """The loss scale (FP16); the trainer keeps this run's lr schedule on resume (the same
        formula, possibly with a new end: see config.check_resume)."""
        return {"loss_scaler": self.scaler.state_dict() if self.scaler else None}

    def restore_state(self, state):
        if self.scaler is not None:
            self.scaler.load_state_dict(state["loss_scaler"])

    def report(self, result, seconds):
        """report.md of a ``train`` run: the final and best validation scores and the speed
        (the demo writes its own, beside the paper's row)."""
        summary = summarize(self.folder.path, self.cfg.to_dict())
        speed = ("%.1f img/s" % summary.img_per_sec) if summary.img_per_sec else "n/a"
        return ["# gluon-tricks train: %s" % self.cfg.model, "",
                "| | top-1 (%) | top-5 (%) | epoch |", "|---|---:|---:|---:|",
                "| final | %.2f | %.2f | %d |" % (100 * summary.final_top1,
                                                100 * summary.final_top5, summary.epochs),
                "| best | %.2f | %.2f | %d |" % (100 * summary.best_top1, 100 * summary.best_top5,
                                               summary.best_epoch),
                "", "%d updates, %s in training (evaluation excluded), on %d validation images; "
                "plots in `plots/`." % (summary.steps, speed, summary.val_images)]

    def evaluate(self):
        """Validate a copy of the weights. An inference forward re-lays conv weights out for
        oneDNN in place, after which the same updates round differently: evaluating the trained
        arrays would make rank 0 drift from the other workers, and a resumed run from an
        uninterrupted one."""
        mx.nd.waitall()
        for src, dst in zip(self.net.collect_params().values(),
                            self.eval_net.collect_params().values()):
            for array, copy in zip(src.list_data(), dst.list_data()):
                array.copyto(copy)
        result = evaluate(self.eval_net, self.val, self.contexts, self.cfg.dtype)
        return {k: result[k] for k in ("top1", "top5", "images")}

    def begin_epoch(self, epoch, seed):
        """Mixup (§5.4) in this epoch or not."""
        cfg = self.cfg
        use_mixup = cfg.mixup_alpha > 0 and mixup_active(epoch, cfg.num_epochs, cfg.mixup_off_epoch)
        self.use_mixup = use_mixup
        return {"mixup": use_mixup}

    def update(self, batch, seed):
        """One update, mixup's pairs and λ drawn from the update's ``seed``."""
        return self.step(batch, self.use_mixup, np.random.RandomState(seed))

    def line_fields(self):
        return {"skipped_steps": self.scaler.skipped if self.scaler else 0,
                "loss_scale": self.scaler.scale if self.scaler else None}

    def barrier(self):
        self.dist.barrier()

    def agree(self, flag):
        return self.dist.any(flag)

    def describe(self):
        cfg = self.cfg
        return ("training %s on %s: %d epochs of %d steps, total batch %d, lr %.4g (%s)"
                % (cfg.model, cfg.devices, cfg.num_epochs, self.iters, cfg.total_batch_size,
                   cfg.lr, cfg.lr_mode))

    def epoch_line(self, epoch, train, result, seconds):
        return ("epoch %d/%d | train loss %.4f acc %.4f | val top-1 %.4f top-5 %.4f | %.1fs"
                % (epoch + 1, self.cfg.num_epochs, train["loss"], train["train_acc"],
                   result["top1"], result["top5"], seconds))

    def diverged(self, error):
        cfg, last = self.cfg, self.last_checkpoint
        start = (" --pretrained %s" % last) if last else ""
        return ("%s; training stopped. Last good checkpoint: %s. --resume would repeat the same "
                "steps exactly and refuses a new --lr; train a new run with a lower lr (or "
                "--dtype float32) instead: gluon-tricks train --config %s%s --lr %g --save-dir "
                "%s-lr%g" % (error, last or "none written yet", self.folder.config_path, start,
                             cfg.lr / 10, cfg.save_dir.rstrip("/"), cfg.lr / 10))

    # -- training ---------------------------------------------------------------------------
    def step(self, batch, use_mixup, rng):
        """One update on every device (what ``train`` runs per batch, and ``bench train`` times):
        forward and backward over ``cfg.accumulate`` micro-batches of ``batch``, their gradients
        summed, then one reduction and one update dividing by the whole batch (FP16: skipped if
        the sum overflowed). Returns per-device (loss sum, correct count) NDArrays."""
        parts = [self._forward_backward(micro, use_mixup, rng)
                 for micro in micro_batches(batch, self.cfg.accumulate)]
        apply_update(self.trainer, self.params, self.scaler,
                     self.dist.update_batch_size(self.local_batch), self.contexts[0])
        if len(parts) == 1:
            return parts[0]
        self.net.collect_params().zero_grad()
        return [(mx.nd.add_n(*[l for l, _ in device]), mx.nd.add_n(*[c for _, c in device]))
                for device in zip(*parts)]

    def _forward_backward(self, batch, use_mixup, rng):
        """Forward and backward of one micro-batch on every device (mixup and the teacher on it
        alone); returns per-device (loss sum, correct count)."""
        cfg = self.cfg
        xs, ys = split_to_contexts(batch, self.contexts)
        if self.augmenters:
            xs = [aug(x) for aug, x in zip(self.augmenters, xs)]
        targets = ys
        if use_mixup:
            xs, targets = mixup(xs, ys, cfg.classes, cfg.mixup_alpha, cfg.mixup_pairing, rng)
        if cfg.fp16:
            xs = [x.astype("float16") for x in xs]
        teacher_out = [self.teacher(x) for x in xs] if self.teacher else [None] * len(xs)
        scale = self.scaler.scale if self.scaler else 1.0
        with autograd.record():
            outputs = [self.net(x) for x in xs]
            losses = [self.loss(o, t, r) if r is not None else self.loss(o, t)
                      for o, t, r in zip(outputs, targets, teacher_out)]
            scaled = [loss * scale for loss in losses] if scale != 1.0 else losses
        autograd.backward(scaled)
        hard = [t.argmax(axis=1) if t.ndim == 2 else t for t in targets]
        return [(loss.sum(), (o.argmax(axis=1) == h.astype(o.dtype)).sum())
                for loss, o, h in zip(losses, outputs, hard)]

    @contextlib.contextmanager
    def reading(self, split, where):
        """Turn a failure of the record reader over ``split`` into a one-line stop."""
        rec, idx = getattr(self.cfg, "rec_" + split), getattr(self.cfg, "rec_%s_idx" % split)
        try:
            yield
        except mx.base.MXNetError as err:
            if self.cfg.data_backend != "rec":
                raise
            raise self._bad_record(err, rec, idx, where) from None
        except dali.ReadFailed as err:
            raise self._bad_record(err, rec, idx, where, err.records) from None

    def _bad_record(self, error, rec, idx, where, suspects=None):
        """The one-line stop for a record the reader could not decode (see README: the run
        stops rather than skip, so every epoch sees the same images); names the record.
        ``suspects``: the (key, offset) of the records that may be at fault (default: all)."""
        self.say("reading %s failed at %s; looking for the record that does not decode..."
                 % (rec, where))
        bad = undecodable_records(rec, idx, self.cfg.threads, suspects, self.cfg.max_image_pixels)
        if not bad:
            lines = [line for line in str(error).splitlines() if line.strip()]
            return TrainingFailed("reading %s failed at %s (%s); the last complete checkpoint is %s"
                                  % (rec, where, lines[-1] if lines else error,
                                     self.last_checkpoint or "none yet"))
        return TrainingFailed(
            "%s; training stopped at %s and nothing was lost (the last complete checkpoint is %s); "
            "%s, then gluon-tricks train --resume %s --data-dir <the copy's folder>"
            % (name_undecodable(rec, bad), where, self.last_checkpoint or "none yet",
               REPAIR_HINT, self.cfg.save_dir))


def check_environment(cfg):
    """Faults of the machine or the launch that would only show deep inside MXNet."""
    check_device(cfg.dtype, cfg.devices)
    backends.check(cfg.data_backend, cfg.contexts)
    if cfg.kvstore.startswith("dist") and not os.environ.get("DMLC_ROLE"):
        raise UsageError("--kvstore %s needs the parameter servers that 'gluon-tricks launch' "
                         "starts: gluon-tricks launch --workers N --servers M -- train ..."
                         % cfg.kvstore)


def check_records(cfg):
    """Scan the framing of both record files (headers only, through the .idx) before anything
    is written, check their labels against the head's class count and that no image header
    declares more than ``--max-image-pixels``.

    The validation set is also decoded once (it is small): MXNet's validation reader divides by
    the width of an image that does not decode and kills the process (SIGFPE), which no
    handler can turn into a message, whereas the training reader raises an error the loop
    catches and names (see :meth:`Run._bad_record`)."""
    if cfg.data_backend == "synthetic":
        return
    if cfg.data_dir and os.path.isfile(cfg.data_dir):
        raise UsageError("--data-dir %s is a file; pass the folder holding train.rec and val.rec"
                         % cfg.data_dir)
    if not (cfg.rec_train and cfg.rec_val):
        raise UsageError("no data given: pass --data-dir DIR holding train.rec/.idx and "
                         "val.rec/.idx (gluon-tricks prepare makes them), --rec-train/--rec-val, "
                         "or --data-backend synthetic")
    for rec, idx in ((cfg.rec_train, cfg.rec_train_idx), (cfg.rec_val, cfg.rec_val_idx)):
        scan = scan_records(rec, idx, cfg.max_image_pixels)
        if scan.max_label is not None and scan.max_label >= cfg.classes:
            raise UsageError("%s has labels up to %d but the network has %d classes (--classes "
                             "%d); pass --classes %d or leave --classes out to count them"
                             % (rec, scan.max_label, cfg.classes, cfg.classes, scan.max_label + 1))
    check_decodable(cfg.rec_val, cfg.rec_val_idx, cfg.threads, cfg.max_image_pixels)


def train(cfg):
    """Train with the resolved config ``cfg``; returns the process exit code.

    Everything that can be checked before the first write is, the log included: the
    environment, the record files' framing and labels, the checkpoint ``--resume`` continues
    and the run folder (new, ``--resume`` or ``--overwrite``).
    """
    check_environment(cfg)
    dist = Distribution(cfg)
    check_records(cfg)
    loop.start(cfg, lambda resume_from: Run(cfg, dist, resume_from), dist.is_root)
    return 0


