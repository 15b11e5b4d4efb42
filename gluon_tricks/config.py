"""The one typed training configuration: the ``train`` CLI fills it, every other part reads it.

Each option is declared once, as a field made with :func:`~gluon_tricks.options.option`: its
flag, aliases, help, choices (imported from the module that owns them) and range. The ``train``
parser is generated from these fields and :func:`resolve` is the one place they are checked.

Values here are *resolved*: the linear-scaling rule applied (paper §3.1), the input size and class
count chosen, the world size counted. ``to_dict()`` is what ``--print-config`` prints and what a
checkpoint stores; :func:`check_resume` compares two of them. It leaves out NOT_SAVED
(:mod:`gluon_tricks.runcore.settings`): how this invocation treats this machine
(``--overwrite``, ``--max-image-pixels``), which a saved run or config passed on to someone else
must not carry. The options every run has (folder, resume, logging, seed) are declared there too,
once for every command.
"""
import math
import os
from dataclasses import dataclass
from typing import List, Optional

from . import devices, options, recipes
from .data import BACKENDS
from .data.augment import AUGS, on_device
from .data.backends import DALI, DEFAULT as DEFAULT_BACKEND
from .data.imagesize import MAX_PIXELS
from .data.mixup import PAIRINGS
from .data.recorditer import check_batch_fits
from .data.recordfile import companions, index_path, scan_records
from .distributed import KVSTORES
from .errors import UsageError, shown
from .loss import STYLES
from .lr_scheduler import MODES as LR_MODES, same_for_lengths
from .models import check_input_size, check_min_input_size, check_model, default_input_size
from .models.init import INITS
from .options import option
from .precision import DTYPES
from .runcore import resume
from .runcore.settings import RunConfig, run_option

# What ``--preset`` switches: every documented place where GluonCV's train_imagenet.py differs
# from the paper (REFERENCE.md §1, §5). "paper" is the dataclass defaults.
PRESETS = {
    "paper": {},
    "gluoncv": dict(aug="gluoncv", smoothing_style="gluoncv", init="msra",
                    mixup_pairing="reverse", hard_weight=0.5),
}

# Fields resolve() always recomputes, and the one fixed optimizer (§2.1).
DERIVED = ("num_devices", "num_workers", "total_batch_size", "optimizer")
# A class count inferred from labels is absurd above this many classes when it is also more than
# UNUSED_CLASSES times the number of distinct labels (one record labelled 250000 would make a
# 2 GB classifier); an explicit --classes takes any head.
INFERRED_CLASSES_OK, UNUSED_CLASSES = 1000, 2

MODEL, OPTIM, TRICKS, DATA = ("model", "optimisation (§2.1, §3)", "refinements (§5)", "data")
FINETUNE = "fine-tuning (start from trained weights)"


@dataclass
class TrainConfig(RunConfig):
    """Every setting of a training run, after resolution (see :func:`resolve`). A field made
    with :func:`~gluon_tricks.options.option` is also a ``train`` flag."""

    recipe: Optional[str] = option(
        None, "--recipe", resume_safe=True, group=MODEL, metavar="TABLE/ROW",
        validator=lambda name, flag: recipes.find(name),
        help="a paper row, e.g. table6/resnet50d-mixup (gluon-tricks recipes lists them); "
             "its settings are the defaults, every other flag wins")
    preset: str = option(
        "paper", "--preset", resume_safe=True, group=MODEL, choices=tuple(PRESETS),
        help="gluoncv: every GluonCV deviation at once (--aug gluoncv --smoothing-style gluoncv "
             "--init msra --mixup-pairing reverse --hard-weight 0.5)")
    model: str = option("resnet50_v1d", "--model", group=MODEL, validator=check_model,
                        help="network name (gluon-tricks flops --help lists them)")
    classes: int = option(0, "--classes", group=MODEL, minimum=0,
                          help="output classes (0: from the .classes file beside train.rec, "
                               "else 1000)")
    input_size: Optional[int] = option(None, "--input-size", group=MODEL, metavar="S",
                                       help="training crop side (default 299 for inceptionv3, "
                                            "else 224)")
    pretrained: Optional[str] = option(
        None, "--pretrained", resume_safe=True, group=FINETUNE, metavar="PATH",
        help="start from these weights: a GluonCV zoo file, a checkpoint's model.params or a run "
             "folder (its best checkpoint); every array but the classifier must fit --model, and "
             "a classifier for another class count starts afresh (--init)")
    use_pretrained: bool = option(
        False, "--use-pretrained", resume_safe=True, group=FINETUNE,
        help="GluonCV's flag: start from --model's zoo file, found (or downloaded) through "
             "GluonCV's model store in $MXNET_HOME/models (default ~/.mxnet/models)")
    lr_mult_body: float = option(
        1.0, "--lr-mult-body", group=FINETUNE, minimum=0, exclusive=True, metavar="X",
        help="fine-tuning: the body trains at X × the lr, the classifier at the lr (GluonCV's "
             "fine-tuning tutorial uses 0.1)")
    num_epochs: int = option(120, "--num-epochs", group=OPTIM, minimum=0, exclusive=True,
                             help="epochs")
    batch_size: int = option(32, "--batch-size", group=OPTIM, minimum=0, exclusive=True,
                             help="images per device in one forward pass (with --accumulate N, "
                                  "one update takes N of them)")
    accumulate: int = option(
        1, "--accumulate", group=OPTIM, minimum=1, metavar="N",
        help="one update per N micro-batches, gradients summed: total batch = batch × devices × "
             "workers × N (BatchNorm still sees one micro-batch)")
    max_device_batch: int = option(
        0, "--max-device-batch", group=OPTIM, minimum=0, metavar="M",
        help="most images a device takes at once: a larger --batch-size B (e.g. a recipe's share "
             "of the paper's total batch) runs as N micro-batches of B/N ≤ M, --accumulate N "
             "(0: no limit)")
    devices: str = devices.DEFAULT          # --gpus/--cpus/--num-gpus (commands/arguments.py)
    max_image_pixels: int = MAX_PIXELS      # --max-image-pixels (data/imagesize.py)
    num_devices: int = 1
    num_workers: int = 1
    total_batch_size: int = 32
    lr: float = option(0.1, "--lr", group=OPTIM, minimum=0, exclusive=True,
                       help="learning rate of the whole job's batch")
    lr_per_256: Optional[float] = option(
        None, "--lr-per-256", group=OPTIM, minimum=0, exclusive=True, metavar="LR",
        help="linear scaling rule (§3.1): lr = value × total batch / 256 (overrides --lr)")
    lr_mode: str = option("step", "--lr-mode", group=OPTIM, choices=LR_MODES,
                          help="schedule after warmup")
    warmup_epochs: int = option(0, "--warmup-epochs", group=OPTIM, minimum=0,
                                help="linear warmup from 0 (§3.1)")
    lr_decay_epochs: List[int] = option(
        None, "--lr-decay-epoch", group=OPTIM, default_factory=lambda: [30, 60, 90],
        metavar="E1,E2", help="step schedule epochs")
    lr_decay_period: int = option(0, "--lr-decay-period", group=OPTIM, minimum=0, metavar="P",
                                  help="GluonCV: decay every P epochs (replaces --lr-decay-epoch)")
    lr_decay: float = option(0.1, "--lr-decay", group=OPTIM, minimum=0, exclusive=True,
                             metavar="FACTOR", help="step schedule factor")
    optimizer: str = "nag"
    momentum: float = option(0.9, "--momentum", group=OPTIM, minimum=0, help="NAG momentum")
    wd: float = option(1e-4, "--wd", group=OPTIM, minimum=0, help="weight decay")
    no_wd: bool = option(False, "--no-wd", group=OPTIM,
                         help="no bias decay (§3.2): weight decay on conv and dense weights only")
    last_gamma: bool = option(False, "--last-gamma", group=OPTIM,
                              help="zero γ in each residual block's last BN (§3.2)")
    label_smoothing: float = option(
        0.0, "--label-smoothing", "--smoothing", group=TRICKS, minimum=0, nargs="?", const=0.1,
        metavar="EPS", help="label smoothing ε (bare flag: 0.1, eq. 4)")
    smoothing_style: str = option("paper", "--smoothing-style", group=TRICKS, choices=STYLES,
                                  help="paper: on 1−ε, off ε/(K−1); gluoncv: on 1−ε+ε/K, off ε/K")
    mixup_alpha: float = option(0.0, "--mixup-alpha", group=TRICKS, minimum=0, switch="--mixup",
                                switch_value=0.2, metavar="ALPHA",
                                help="Beta(α, α) of mixup (§5.4), used with --mixup")
    mixup_off_epoch: int = option(0, "--mixup-off-epoch", group=TRICKS, minimum=0, metavar="N",
                                  help="train the last N epochs without mixup")
    mixup_pairing: str = option(
        "random", "--mixup-pairing", group=TRICKS, choices=PAIRINGS,
        help="random: the paper's random pairs (§5.4); reverse: GluonCV's reversed batch")
    teacher: Optional[str] = option(
        None, "--teacher", group=TRICKS, metavar="NAME",
        validator=lambda name, flag: check_model(name, flag),
        help="teacher network for distillation (§5.3)")
    teacher_params: Optional[str] = option(None, "--teacher-params", group=TRICKS,
                                           metavar="PATH", help="teacher weights (.params)")
    temperature: float = option(20.0, "--temperature", group=TRICKS, minimum=0, exclusive=True,
                                metavar="T", help="distillation temperature (eq. 6)")
    hard_weight: Optional[float] = option(
        None, "--hard-weight", group=TRICKS, minimum=0, metavar="W",
        help="GluonCV weighting (1−W)·T²·soft + W·hard; unset: eq. 6 unweighted")
    dtype: str = option("float32", "--dtype", group=OPTIM, choices=DTYPES,
                        help="float16: FP16 with float32 master weights (§3.2)")
    loss_scale: str = option("dynamic", "--loss-scale", group=OPTIM, metavar="SCALE",
                             help="FP16 loss scale: dynamic or a fixed number")
    kvstore: str = option("device", "--kvstore", group="devices", choices=KVSTORES,
                          help="device/local/nccl in one process; dist_* under 'gluon-tricks "
                               "launch'; horovod under horovodrun")
    aug: str = option("paper", "--aug", group=DATA, choices=AUGS,
                      help="paper: §2.1 steps 1-6, colour/PCA/normalize on the training device; "
                           "paper-decoder: the same ranges in ImageRecordIter's threads "
                           "(approximate hue and saturation, clipped); gluoncv: GluonCV's "
                           "ImageRecordIter settings")
    init: str = option("xavier", "--init", group=MODEL, choices=INITS,
                       help="xavier: the paper's (§2.1); msra: GluonCV's")
    data_backend: str = option(
        DEFAULT_BACKEND, "--data-backend", group=DATA, choices=BACKENDS, metavar="KIND",
        help="dali-cpu / dali-gpu: NVIDIA DALI decoding on CPU threads / on the training GPUs, "
             "each epoch a permutation of the whole set and every crop drawn per image; rec: "
             "MXNet's ImageRecordIter (GluonCV's mxnet; the default with --aug paper-decoder or "
             "gluoncv, which run in it); synthetic: random tensors at the real shape")
    data_dir: Optional[str] = option(None, "--data-dir", resume_safe=True, group=DATA,
                                     metavar="DIR",
                                     help="folder with train.rec/.idx and val.rec/.idx")
    rec_train: Optional[str] = option(None, "--rec-train", resume_safe=True, group=DATA,
                                      metavar="FILE", help="training .rec")
    rec_train_idx: Optional[str] = option(None, "--rec-train-idx", resume_safe=True, group=DATA,
                                          metavar="FILE", help="its index (default: beside it)")
    rec_val: Optional[str] = option(None, "--rec-val", resume_safe=True, group=DATA,
                                    metavar="FILE", help="validation .rec")
    rec_val_idx: Optional[str] = option(None, "--rec-val-idx", resume_safe=True, group=DATA,
                                        metavar="FILE", help="its index (default: beside it)")
    threads: int = option(4, "-j", "--threads", "--num-data-workers", group=DATA, minimum=0,
                          exclusive=True, metavar="N", help="decoding threads",
                          unobservable="speed only: the batches are the same with "
                                       "any thread count (benchmarks/ measure the speed)")
    batches_per_epoch: int = option(0, "--batches-per-epoch", group=DATA, minimum=0,
                                    metavar="N", help="cap on steps per epoch (0: a full pass)")
    num_training_samples: int = option(
        0, "--num-training-samples", group=DATA, minimum=0, metavar="N",
        help="GluonCV: images per epoch, i.e. N ÷ total batch steps (0: every record)")
    save_dir: str = run_option("save_dir", "runs/train")
    save_frequency: int = run_option("save_frequency")
    keep_last: int = run_option("keep_last")
    checkpoint_minutes: float = run_option("checkpoint_minutes")
    resume: Optional[str] = run_option("resume")
    overwrite: bool = run_option("overwrite")
    log_interval: int = run_option("log_interval")
    logging_file: str = run_option("logging_file")
    tensorboard: bool = run_option("tensorboard")
    seed: int = run_option("seed")

    COMMAND = "train"
    NUM_EPOCHS_RULE = ("--num-epochs may change only with a step schedule whose decay epochs all "
                       "fall before the old and the new end, and no --mixup-off-epoch")

    @staticmethod
    def num_epochs_may_change(saved, old, new):
        """The same formula for ``old`` and ``new`` epochs: a step schedule with every decay
        before both ends (:func:`~gluon_tricks.lr_scheduler.same_for_lengths`), and no
        mixup-free tail counted from the end."""
        return (same_for_lengths(saved["lr_mode"], saved["lr_decay_epochs"], old, new)
                and not (saved["mixup_alpha"] and saved["mixup_off_epoch"]))

    @staticmethod
    def settings_from_file(values):
        return without_derived(values)

    @property
    def contexts(self):
        """The MXNet contexts this process trains on (see ``devices``: "gpu:0,1" or "cpu:N")."""
        return devices.contexts(self.devices)

    @property
    def fp16(self):
        return self.dtype == "float16"



def build(given, env=os.environ):
    """The resolved TrainConfig of the options a user gave (a dict keyed by field name): the
    dataclass defaults, under the preset's, under the recipe's, under ``given``."""
    values = dict(PRESETS.get(given.get("preset"), {}))
    if given.get("recipe"):
        given = dict(given, recipe=recipes.find(given["recipe"]).name)
        values.update(recipes.config_values(given["recipe"], given))
    values.update(given)
    if "data_backend" not in values and values.get("aug") in AUGS and not on_device(values["aug"]):
        values["data_backend"] = "rec"      # those presets run in ImageRecordIter's threads
    return resolve(TrainConfig(**values), env)


def world_size(kvstore, env=os.environ):
    """Processes in the job, from the launcher's environment (1 when run alone)."""
    if kvstore == "horovod":
        for key in ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
            if env.get(key):
                return int(env[key])
    if kvstore.startswith("dist") and env.get("DMLC_NUM_WORKER"):
        return int(env["DMLC_NUM_WORKER"])
    return 1


def split_batch(batch_size, accumulate, max_device_batch):
    """(micro-batch, accumulation steps) holding ``batch_size`` × ``accumulate`` images per device
    and update with micro-batches of at most ``max_device_batch`` (0: no limit): the fewest
    steps whose micro-batches are equal."""
    if not max_device_batch or batch_size <= max_device_batch:
        return batch_size, accumulate
    steps = next(n for n in range(-(-batch_size // max_device_batch), batch_size + 1)
                 if batch_size % n == 0)
    return batch_size // steps, accumulate * steps


def _data_paths(cfg):
    """Fill the four record paths from ``data_dir`` unless given one by one (GluonCV's flags)."""
    if cfg.data_backend == "synthetic":
        return
    if cfg.data_dir:
        for split in ("train", "val"):
            for ext, attr in ((".rec", "rec_%s" % split), (".idx", "rec_%s_idx" % split)):
                if not getattr(cfg, attr):
                    setattr(cfg, attr, os.path.join(cfg.data_dir, split + ext))
    for split in ("train", "val"):
        rec = getattr(cfg, "rec_%s" % split)
        if rec and not getattr(cfg, "rec_%s_idx" % split):
            setattr(cfg, "rec_%s_idx" % split, index_path(rec))


def classes_from_records(rec_path):
    """(class count, where it came from) for a record file, or (None, None): the ``.classes``
    file ``prepare`` writes beside it, else the largest label + 1 of the ``.lst`` beside it (as
    MXNet's im2rec writes), else of the record headers themselves. A count from labels that is
    absurd for them (see UNUSED_CLASSES) is a UsageError naming the label's line or record."""
    if not rec_path:
        return None, None
    files = companions(rec_path)
    if os.path.isfile(files["classes"]):
        with open(files["classes"], encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.strip()), files["classes"]
    if os.path.isfile(files["lst"]):
        first_line = {}     # label -> the line it first appears on
        with open(files["lst"], encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    try:
                        first_line.setdefault(int(float(parts[1])), number)
                    except (ValueError, OverflowError):
                        pass
        if first_line:
            top = max(first_line)
            _check_inferred(top, len(first_line), "%s line %d" % (files["lst"], first_line[top]))
            return top + 1, "the labels of " + files["lst"]
    if os.path.isfile(rec_path) and os.path.isfile(files["idx"]):
        scan = scan_records(rec_path, files["idx"])
        if scan.max_label is not None:
            _check_inferred(scan.max_label, scan.distinct_labels,
                            "%s: record %d (byte %d)" % ((rec_path,) + scan.max_label_at))
            return scan.max_label + 1, "the labels in " + rec_path
    return None, None


def _check_inferred(top, distinct, where):
    """UsageError when ``top`` + 1 classes is absurd for ``distinct`` labels (the class count
    would be inferred from a wrong label)."""
    count = top + 1
    if count > INFERRED_CLASSES_OK and count > UNUSED_CLASSES * distinct:
        raise UsageError("%s has label %d, which would make %s classes although only %d distinct "
                         "labels occur: fix that label, or pass --classes %d to train a head "
                         "that large" % (where, top, format(count, ","), distinct, count))


def resolve(cfg, env=os.environ):
    """Check ``cfg`` and fill the derived values in place; bad values raise one-line UsageErrors.
    This is the one place a training option is checked."""
    options.check(cfg)
    cfg.devices, cfg.num_devices = devices.parse(cfg.devices)
    if cfg.warmup_epochs >= cfg.num_epochs:
        raise UsageError("--warmup-epochs (%d) must be smaller than --num-epochs (%d)"
                         % (cfg.warmup_epochs, cfg.num_epochs))
    if not cfg.label_smoothing < 1:
        raise UsageError("--label-smoothing must be in [0, 1), got %r" % cfg.label_smoothing)
    if cfg.loss_scale != "dynamic":
        try:
            scale = float(cfg.loss_scale)
        except ValueError:
            scale = 0
        if not scale > 0:
            raise UsageError("--loss-scale takes 'dynamic' or a positive number, got %s"
                             % shown(cfg.loss_scale, quoted=True))
        cfg.loss_scale = str(cfg.loss_scale)
    if cfg.hard_weight is not None and not cfg.hard_weight <= 1:
        raise UsageError("--hard-weight must be in [0, 1], got %r" % cfg.hard_weight)
    if cfg.teacher and not cfg.teacher_params:
        raise UsageError("--teacher needs --teacher-params FILE (a GluonCV zoo file or one "
                         "of our checkpoints' model.params)")
    if cfg.mixup_alpha == 0:
        cfg.mixup_off_epoch = 0
    elif cfg.mixup_off_epoch >= cfg.num_epochs:
        raise UsageError("--mixup-off-epoch %d leaves no epoch of the %d with mixup; it takes the "
                         "number of last epochs without it" % (cfg.mixup_off_epoch, cfg.num_epochs))
    if cfg.data_backend in DALI and not on_device(cfg.aug):
        raise UsageError("--aug %s runs in ImageRecordIter's decoding threads, which only "
                         "--data-backend rec has; with --data-backend %s use --aug paper (steps "
                         "4-6 on the training device; GluonCV's own DALI pipelines do no colour "
                         "jitter at all)" % (cfg.aug, cfg.data_backend))

    if cfg.pretrained and cfg.use_pretrained:
        raise UsageError("--pretrained and --use-pretrained both name the starting weights; "
                         "give one")
    if cfg.lr_mult_body != 1 and not (cfg.pretrained or cfg.use_pretrained):
        raise UsageError("--lr-mult-body is for fine-tuning: add --pretrained PATH or "
                         "--use-pretrained, or leave it out")
    cfg.batch_size, cfg.accumulate = split_batch(cfg.batch_size, cfg.accumulate,
                                                 cfg.max_device_batch)

    cfg.num_workers = world_size(cfg.kvstore, env)
    if cfg.kvstore == "horovod":
        cfg.num_devices = 1
    cfg.total_batch_size = cfg.batch_size * cfg.num_devices * cfg.num_workers * cfg.accumulate
    if cfg.lr_per_256 is not None:
        cfg.lr = cfg.lr_per_256 * cfg.total_batch_size / 256.0
        if not math.isfinite(cfg.lr):
            raise UsageError("--lr-per-256 %g gives an lr of %g for a total batch of %d"
                             % (cfg.lr_per_256, cfg.lr, cfg.total_batch_size))
    if cfg.lr_decay_period:
        cfg.lr_decay_epochs = list(range(cfg.lr_decay_period, cfg.num_epochs, cfg.lr_decay_period))
    cfg.lr_decay_epochs = sorted(int(e) for e in cfg.lr_decay_epochs)
    if any(e < 1 for e in cfg.lr_decay_epochs):
        raise UsageError("--lr-decay-epoch takes positive epoch numbers like 30,60,90, got %s"
                         % ",".join(map(str, cfg.lr_decay_epochs)))
    if cfg.num_training_samples and not cfg.batches_per_epoch:
        cfg.batches_per_epoch = max(1, cfg.num_training_samples // cfg.total_batch_size)
    if cfg.input_size is None:
        cfg.input_size = default_input_size(cfg.model)
    check_min_input_size(cfg.input_size)
    check_batch_fits(cfg.batch_size, cfg.input_size)
    check_input_size(cfg.model, cfg.input_size)
    _data_paths(cfg)
    if not cfg.classes:
        counted, source = classes_from_records(cfg.rec_train)
        cfg.classes = counted or 1000
        if cfg.classes < 2:
            raise UsageError("%s gives %d class; classification needs at least 2: pack a folder "
                             "with two or more class subfolders" % (source, cfg.classes))
    if cfg.classes < 2:
        raise UsageError("--classes must be at least 2, got %d" % cfg.classes)
    return cfg


def check_resume(saved, current):
    """:func:`gluon_tricks.runcore.resume.check_resume` for two TrainConfig dicts."""
    resume.check_resume(saved, current, TrainConfig)


def moved_paths(given):
    """The saved record paths a resume with the flags ``given`` finds again, as a new run
    would: all four in a new ``--data-dir`` (unless typed one by one), an index beside a new
    record file (unless typed)."""
    names = []
    for split in ("train", "val"):
        rec, idx = "rec_" + split, "rec_%s_idx" % split
        if "data_dir" in given and rec not in given:
            names.append(rec)
        if (rec in names or rec in given) and idx not in given:
            names.append(idx)
    return names


def resumed_config(given, env=os.environ):
    """The resolved TrainConfig of ``--resume DIR`` (``given["resume"]``): DIR's saved settings
    under the flags ``given`` (see :func:`gluon_tricks.runcore.resume.resumed_values`), the
    record files following a new --data-dir or record file (:func:`moved_paths`); whether a
    change is allowed is decided by :func:`check_resume` when the checkpoint is loaded."""
    values = resume.resumed_values(given, TrainConfig)
    for name in moved_paths(given):
        values.pop(name, None)
    return resolve(TrainConfig(**values), env)


def without_derived(values):
    """A config file's ``values`` without those :func:`resolve` computes again: the totals, the
    lr under ``lr_per_256``, record paths from ``data_dir``, the default input size and class
    count (gluon_tricks.configfile)."""
    out = {k: v for k, v in values.items() if k not in DERIVED}
    if out.get("lr_per_256") is not None:
        out.pop("lr", None)
    data_dir = out.get("data_dir")
    for split in ("train", "val"):
        rec, idx = "rec_%s" % split, "rec_%s_idx" % split
        if data_dir and out.get(rec) == os.path.join(data_dir, split + ".rec"):
            out.pop(rec)
        if out.get(idx) and out.get(idx) in (index_path(values.get(rec) or ""),
                                             os.path.join(data_dir or "", split + ".idx")):
            out.pop(idx)
    if "model" in out and out.get("input_size") == default_input_size(out["model"]):
        out.pop("input_size")
    if out.get("classes") == (classes_from_records(values.get("rec_train"))[0] or 1000):
        out.pop("classes")
    samples, total = values.get("num_training_samples"), values.get("total_batch_size")
    if samples and total and out.get("batches_per_epoch") == max(1, samples // total):
        out.pop("batches_per_epoch")
    return out
