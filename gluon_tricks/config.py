"""The one typed training configuration: the ``train`` CLI fills it, every other part reads it.

Values here are *resolved*: the linear-scaling rule applied (paper §3.1), the input size and class
count chosen, the world size counted. ``to_dict()`` is what ``--print-config`` prints and what a
checkpoint stores; :func:`check_resume` compares two of them.
"""
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional

from .errors import UsageError
from .lr_scheduler import MODES as LR_MODES
from .models import check_input_size, default_input_size, list_models
from .models.init import INITS

DTYPES = ("float32", "float16")
KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync", "horovod")
AUGS = ("paper", "gluoncv")
SMOOTHING_STYLES = ("paper", "gluoncv")
MIXUP_PAIRINGS = ("reverse", "random")
DATA_BACKENDS = ("rec", "synthetic")

# Keys a resumed run may change: they affect where and how often things are written and the input
# plumbing, never the numbers the run computes.
SAFE_ON_RESUME = ("save_dir", "resume", "log_interval", "save_frequency", "keep_last",
                  "overwrite", "tensorboard", "data_dir", "rec_train", "rec_train_idx", "rec_val",
                  "rec_val_idx")


@dataclass
class TrainConfig:
    """Every setting of a training run, after resolution (see :func:`resolve`)."""

    model: str = "resnet50_v1d"
    classes: int = 1000
    input_size: int = 224
    num_epochs: int = 120
    batch_size: int = 32
    devices: str = "cpu:1"
    num_devices: int = 1
    num_workers: int = 1
    total_batch_size: int = 32
    lr: float = 0.1
    lr_per_256: Optional[float] = None
    lr_mode: str = "step"
    warmup_epochs: int = 0
    lr_decay_epochs: List[int] = field(default_factory=lambda: [30, 60, 90])
    lr_decay: float = 0.1
    optimizer: str = "nag"
    momentum: float = 0.9
    wd: float = 1e-4
    no_wd: bool = False
    last_gamma: bool = False
    label_smoothing: float = 0.0
    smoothing_style: str = "paper"
    mixup_alpha: float = 0.0
    mixup_off_epoch: int = 0
    mixup_pairing: str = "reverse"
    teacher: Optional[str] = None
    teacher_params: Optional[str] = None
    temperature: float = 20.0
    hard_weight: Optional[float] = None
    dtype: str = "float32"
    loss_scale: str = "dynamic"
    kvstore: str = "device"
    aug: str = "paper"
    aug_device: bool = False
    init: str = "xavier"
    data_backend: str = "rec"
    data_dir: Optional[str] = None
    rec_train: Optional[str] = None
    rec_train_idx: Optional[str] = None
    rec_val: Optional[str] = None
    rec_val_idx: Optional[str] = None
    threads: int = 4
    batches_per_epoch: int = 0
    save_dir: str = "runs/train"
    save_frequency: int = 10
    keep_last: int = 2
    overwrite: bool = False
    resume: Optional[str] = None
    log_interval: int = 50
    seed: int = 0
    tensorboard: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @property
    def contexts(self):
        """The MXNet contexts this process trains on (see ``devices``: "gpu:0,1" or "cpu:N")."""
        import mxnet as mx
        kind, spec = self.devices.split(":")
        if kind == "gpu":
            return [mx.gpu(int(i)) for i in spec.split(",")]
        return [mx.cpu(i) for i in range(int(spec))]

    @property
    def fp16(self):
        return self.dtype == "float16"


def _choice(name, value, choices):
    if value not in choices:
        raise UsageError("--%s %r is not valid; choose one of: %s"
                         % (name.replace("_", "-"), value, ", ".join(choices)))


def _positive(name, value, allow_zero=False):
    if value is None or value < 0 or (value == 0 and not allow_zero):
        raise UsageError("--%s must be %s, got %r" % (name.replace("_", "-"),
                                                     "≥ 0" if allow_zero else "> 0", value))


def world_size(kvstore, env=os.environ):
    """Processes in the job, from the launcher's environment (1 when run alone)."""
    if kvstore == "horovod":
        for key in ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
            if env.get(key):
                return int(env[key])
    if kvstore.startswith("dist") and env.get("DMLC_NUM_WORKER"):
        return int(env["DMLC_NUM_WORKER"])
    return 1


def parse_devices(gpus, cpus):
    """``--gpus 0,1`` / ``--cpus N`` → the canonical ``devices`` string; CPU 1 by default."""
    if gpus and cpus:
        raise UsageError("give either --gpus or --cpus, not both")
    if gpus:
        ids = [g.strip() for g in str(gpus).split(",") if g.strip()]
        if not all(g.isdigit() for g in ids) or len(set(ids)) != len(ids):
            raise UsageError("--gpus takes distinct device numbers like 0,1,2,3, got %r" % gpus)
        return "gpu:" + ",".join(ids), len(ids)
    cpus = 1 if cpus is None else cpus
    if cpus < 1:
        raise UsageError("--cpus must be ≥ 1, got %d" % cpus)
    return "cpu:%d" % cpus, cpus


def _data_paths(cfg):
    """Fill the four record paths from ``data_dir`` unless given one by one (GluonCV's flags)."""
    if cfg.data_backend != "rec":
        return
    if cfg.data_dir:
        for split in ("train", "val"):
            for ext, attr in ((".rec", "rec_%s" % split), (".idx", "rec_%s_idx" % split)):
                if not getattr(cfg, attr):
                    setattr(cfg, attr, os.path.join(cfg.data_dir, split + ext))
    for split in ("train", "val"):
        rec = getattr(cfg, "rec_%s" % split)
        if rec and not getattr(cfg, "rec_%s_idx" % split):
            setattr(cfg, "rec_%s_idx" % split, os.path.splitext(rec)[0] + ".idx")


def classes_from_records(rec_path):
    """(class count, where it came from) for a record file, or (None, None): the ``.classes``
    file ``prepare`` writes beside it, else the largest label + 1 of the ``.lst`` beside it (as
    MXNet's im2rec writes), else of the record headers themselves."""
    if not rec_path:
        return None, None
    stem = os.path.splitext(rec_path)[0]
    if os.path.isfile(stem + ".classes"):
        with open(stem + ".classes", encoding="utf-8") as f:
            return sum(1 for line in f if line.strip()), stem + ".classes"
    if os.path.isfile(stem + ".lst"):
        labels = []
        with open(stem + ".lst", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    try:
                        labels.append(int(float(parts[1])))
                    except ValueError:
                        pass
        if labels:
            return max(labels) + 1, "the labels of " + stem + ".lst"
    if os.path.isfile(rec_path) and os.path.isfile(stem + ".idx"):
        from .data.recordfile import scan_records
        top = scan_records(rec_path, stem + ".idx").max_label
        if top is not None:
            return top + 1, "the labels in " + rec_path
    return None, None


def resolve(cfg, env=os.environ):
    """Check ``cfg`` and fill the derived values in place; bad values raise one-line UsageErrors."""
    if cfg.model not in list_models():
        raise UsageError("unknown model %r; choose one of: %s" % (cfg.model, ", ".join(list_models())))
    for name, choices in (("lr_mode", LR_MODES), ("dtype", DTYPES), ("kvstore", KVSTORES),
                          ("aug", AUGS), ("init", INITS), ("smoothing_style", SMOOTHING_STYLES),
                          ("mixup_pairing", MIXUP_PAIRINGS), ("data_backend", DATA_BACKENDS)):
        _choice(name, getattr(cfg, name), choices)
    for name in ("num_epochs", "batch_size", "threads", "log_interval", "save_frequency",
                 "keep_last"):
        _positive(name, getattr(cfg, name))
    for name in ("warmup_epochs", "wd", "momentum", "mixup_alpha", "mixup_off_epoch",
                 "batches_per_epoch", "label_smoothing"):
        _positive(name, getattr(cfg, name), allow_zero=True)
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
            raise UsageError("--loss-scale takes 'dynamic' or a positive number, got %r"
                             % cfg.loss_scale)
    if cfg.hard_weight is not None and not 0 <= cfg.hard_weight <= 1:
        raise UsageError("--hard-weight must be in [0, 1], got %r" % cfg.hard_weight)
    if cfg.teacher:
        if cfg.teacher not in list_models():
            raise UsageError("unknown teacher model %r; choose one of: %s"
                             % (cfg.teacher, ", ".join(list_models())))
        if not cfg.teacher_params:
            raise UsageError("--teacher needs --teacher-params FILE (a GluonCV zoo file or one "
                             "of our checkpoints' model.params)")
    _positive("temperature", cfg.temperature)
    if cfg.mixup_alpha == 0:
        cfg.mixup_off_epoch = 0

    cfg.num_workers = world_size(cfg.kvstore, env)
    if cfg.kvstore == "horovod":
        cfg.num_devices = 1
    cfg.total_batch_size = cfg.batch_size * cfg.num_devices * cfg.num_workers
    if cfg.lr_per_256 is not None:
        _positive("lr_per_256", cfg.lr_per_256)
        cfg.lr = cfg.lr_per_256 * cfg.total_batch_size / 256.0
    _positive("lr", cfg.lr)
    cfg.lr_decay_epochs = sorted(int(e) for e in cfg.lr_decay_epochs)
    if any(e < 1 for e in cfg.lr_decay_epochs):
        raise UsageError("--lr-decay-epoch takes positive epoch numbers like 30,60,90, got %s"
                         % cfg.lr_decay_epochs)
    if cfg.input_size is None:
        cfg.input_size = default_input_size(cfg.model)
    if cfg.input_size < 32:
        raise UsageError("--input-size must be at least 32 pixels, got %d" % cfg.input_size)
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


def num_epochs_may_change(cfg, old, new):
    """True when training for ``new`` instead of ``old`` epochs leaves every epoch's numbers
    the same formula: a step schedule whose decay epochs all fall before both ends (cosine and
    poly stretch with the total), and no mixup-free tail counted from the end."""
    return (cfg["lr_mode"] == "step" and all(e < min(old, new) for e in cfg["lr_decay_epochs"])
            and not (cfg["mixup_alpha"] and cfg["mixup_off_epoch"]))


def check_resume(saved, current):
    """Raise a UsageError naming every setting that differs between a checkpoint's config and
    this run's, except the ones in SAFE_ON_RESUME (and ``num_epochs`` where
    :func:`num_epochs_may_change` allows it)."""
    free = set(SAFE_ON_RESUME)
    if num_epochs_may_change(saved, saved["num_epochs"], current["num_epochs"]):
        free.add("num_epochs")
    diffs = ["%s (checkpoint: %s, now: %s)" % (k, saved.get(k), v)
             for k, v in current.items() if k not in free and saved.get(k) != v]
    if diffs:
        why = ("; --num-epochs may change only with a step schedule whose decay epochs all fall "
               "before the old and the new end, and no --mixup-off-epoch"
               if saved.get("num_epochs") != current.get("num_epochs") else "")
        raise UsageError("cannot resume: %s differ; only %s may change on resume%s"
                         % ("; ".join(diffs), ", ".join(SAFE_ON_RESUME), why))
