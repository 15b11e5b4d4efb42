"""The paper's table rows as data: ``train --recipe table6/resnet50d-mixup`` and ``gluon-tricks
recipes``. The scripts in recipes/ are thin wrappers over these.

A :class:`Recipe` is a training setting (network, total batch, lr per 256 images, flags); a
:class:`Row` names it as a row of Tables 2–7 with the paper's accuracy. Rows that train the same
thing share one recipe (Table 3 ResNet-50 = Table 4 BS 1024 + FP16 = Table 5 ResNet-50).
Everything not set here is the paper's §2.1 default of :class:`~gluon_tricks.config.TrainConfig`
(NAG, momentum 0.9, Xavier init, the paper's augmentation and label-smoothing formula, wd 1e-4).
"""
import os
from typing import NamedTuple, Optional, Tuple

from . import devices
from .errors import UsageError, shown

# The paper's hardware (§2.1): 8 GPUs; the per-device batch is the total batch over the devices.
PAPER_DEVICES = "gpu:0,1,2,3,4,5,6,7"
LR_PER_256 = 0.1        # §3.1 linear scaling: lr = 0.1 × total batch / 256


class Recipe(NamedTuple):
    """One training setting: ``settings`` are TrainConfig values beside the paper's defaults."""

    model: str
    total_batch: int
    settings: Tuple[Tuple[str, object], ...]
    dataset: str = "imagenet"
    teacher_run: Optional[str] = None   # the table6 row whose best checkpoint is the teacher

    @property
    def values(self):
        return dict(self.settings, model=self.model)


class Row(NamedTuple):
    """A paper table row: its name (``tableN/row``), what it is, its recipe and the paper's
    top-1/top-5 (ImageNet val; Table 7: Places365 val, then test), None when not reported."""

    name: str
    label: str
    recipe: Recipe
    paper: Optional[Tuple[float, ...]]


def _recipe(model, total_batch, dataset="imagenet", teacher_run=None, **settings):
    if not model.startswith("resnet"):
        settings.pop("last_gamma", None)        # zero γ acts on residual blocks only (§3.2)
    return Recipe(model, total_batch, tuple(sorted(settings.items())), dataset, teacher_run)


# §2.1 baseline: 120 epochs, lr ÷10 at 30/60/90 (total batch 256, lr 0.1, FP32).
BASELINE = dict(num_epochs=120, lr_mode="step", lr_decay_epochs=[30, 60, 90])
# Table 4's heuristics, added one after another (§3).
HEURISTICS = (("linear-scaling", "linear scaling", {}),
              ("warmup", "+ LR warmup", dict(warmup_epochs=5)),
              ("zero-gamma", "+ zero γ", dict(last_gamma=True)),
              ("no-bias-decay", "+ no bias decay", dict(no_wd=True)),
              ("fp16", "+ FP16", dict(dtype="float16")))
# §3 efficient: BS 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no bias decay.
EFFICIENT = dict(BASELINE, warmup_epochs=5, last_gamma=True, no_wd=True, dtype="float16")
# §5 refinements stacked on the efficient setting; mixup trains 200 epochs; teachers at T = 20.
COSINE = dict(EFFICIENT, lr_mode="cosine")
SMOOTH = dict(COSINE, label_smoothing=0.1)
MIXUP = dict(SMOOTH, mixup_alpha=0.2, num_epochs=200)
TEACHER = dict(teacher="resnet152_v1d", temperature=20.0)
REFINEMENTS = (("efficient", "efficient", EFFICIENT, None),
               ("cosine", "+ cosine decay", COSINE, None),
               ("label-smoothing", "+ label smoothing", SMOOTH, None),
               ("distill", "+ distill w/o mixup", dict(SMOOTH, **TEACHER), "teacher-resnet152d"),
               ("mixup", "+ mixup w/o distill", MIXUP, None),
               ("distill-mixup", "+ distill w/ mixup", dict(MIXUP, **TEACHER),
                "teacher-resnet152d-mixup"))
NETWORKS = (("resnet50", "ResNet-50", "resnet50_v1"), ("inceptionv3", "Inception-V3", "inceptionv3"),
            ("mobilenet", "MobileNet", "mobilenet1.0"), ("resnet50d", "ResNet-50-D", "resnet50_v1d"))
PAPER = {
    "table2": {"resnet50": (75.87, 92.70), "inceptionv3": (77.32, 93.43), "mobilenet": (69.03, 88.71)},
    "table3": {"resnet50": (76.21, 92.97), "inceptionv3": (77.50, 93.60), "mobilenet": (71.90, 90.47)},
    "table4": {256: [(75.87, 92.70), (76.03, 92.81), (76.19, 93.03), (76.16, 92.97), (76.15, 93.09)],
               1024: [(75.17, 92.54), (75.93, 92.84), (76.37, 92.96), (76.03, 92.86), (76.21, 92.97)]},
    "table5": {"": (76.21, 92.97), "-b": (76.66, 93.28), "-c": (76.87, 93.48), "-d": (77.16, 93.52)},
    "table6": {"resnet50d": [(77.16, 93.52), (77.91, 93.81), (78.31, 94.09), (78.67, 94.36),
                             (79.15, 94.58), (79.29, 94.63)],
               "inceptionv3": [(77.50, 93.60), (78.19, 94.06), (78.40, 94.13), (78.26, 94.01),
                               (78.77, 94.39), (78.34, 94.16)],
               "mobilenet": [(71.90, 90.53), (72.83, 91.00), (72.93, 91.14), (71.97, 90.89),
                             (73.28, 91.30), (72.51, 91.02)]},
    "table7": {"efficient": (56.34, 86.87, 57.18, 87.28), "best": (56.70, 87.33, 57.63, 87.82)},
}


def _rows():
    rows = []
    nets = {key: (title, model) for key, title, model in NETWORKS}
    for table, label, batch, settings in (("table2", "baseline", 256, BASELINE),
                                          ("table3", "efficient", 1024, EFFICIENT)):
        for key in ("resnet50", "inceptionv3", "mobilenet"):
            title, model = nets[key]
            rows.append(Row("%s/%s-%s" % (table, key, label), "Table %s %s, %s"
                            % (table[-1], label, title), _recipe(model, batch, **settings),
                            PAPER[table][key]))
    # Tables 8-9 "B-standard" backbone: ResNet-50-B with the §2.1 baseline (ImageNet top-1 76.14).
    rows.append(Row("table2/resnet50b-baseline",
                    "Tables 8-9 B-standard backbone, ResNet-50-B (Table 8: top-1 76.14)",
                    _recipe("resnet50_v1b", 256, **BASELINE), None))
    for batch in (256, 1024):
        settings = dict(BASELINE)
        for (name, label, added), acc in zip(HEURISTICS, PAPER["table4"][batch]):
            settings.update(added)
            rows.append(Row("table4/bs%d-%s" % (batch, name), "Table 4 BS %d, %s" % (batch, label),
                            _recipe("resnet50_v1", batch, **settings), acc))
    for suffix, acc in PAPER["table5"].items():
        model = "resnet50_v1" + suffix[1:]
        rows.append(Row("table5/resnet50%s" % suffix, "Table 5 ResNet-50%s" % suffix.upper(),
                        _recipe(model, 1024, **EFFICIENT), acc))
    for key in ("resnet50d", "inceptionv3", "mobilenet"):
        title, model = nets[key]
        for (name, label, settings, teacher_run), acc in zip(REFINEMENTS, PAPER["table6"][key]):
            rows.append(Row("table6/%s-%s" % (key, name), "Table 6 %s, %s" % (title, label),
                            _recipe(model, 1024, teacher_run=teacher_run, **settings), acc))
    rows.append(Row("table6/teacher-resnet152d", "Table 6 teacher (cosine + LS)",
                    _recipe("resnet152_v1d", 1024, **SMOOTH), None))
    rows.append(Row("table6/teacher-resnet152d-mixup", "Table 6 teacher (cosine + LS + mixup)",
                    _recipe("resnet152_v1d", 1024, **MIXUP), None))
    for name, label, settings in (("efficient", "efficient", EFFICIENT),
                                  ("best", "best (cosine + LS + mixup)", MIXUP)):
        rows.append(Row("table7/resnet50d-places365-%s" % name, "Table 7 ResNet-50-D " + label,
                        _recipe("resnet50_v1d", 1024, dataset="places365", classes=365,
                                **settings), PAPER["table7"][name]))
    return tuple(rows)


ROWS = _rows()
BY_NAME = {row.name: row for row in ROWS}


def find(name):
    """The Row called ``name`` (``table6/resnet50d-mixup``; its script's path is fine too,
    ``recipes/table6/resnet50d-mixup.sh``)."""
    name = name[:-3] if name.endswith(".sh") else name
    name = name[len("recipes/"):] if name.startswith("recipes/") else name
    if name not in BY_NAME:
        raise UsageError("unknown recipe %s; gluon-tricks recipes lists them (e.g. "
                         "table6/resnet50d-mixup)" % shown(name, quoted=True))
    return BY_NAME[name]


def same_as(row):
    """Names of the other rows that train ``row``'s recipe."""
    return [other.name for other in ROWS if other.recipe == row.recipe and other is not row]


def data_dir(dataset):
    """Where ``gluon-tricks prepare`` puts a dataset's records by default."""
    return os.path.join(os.path.expanduser("~"), ".mxnet", "datasets", dataset, "rec")


def config_values(name, given):
    """TrainConfig values of recipe row ``name`` under the options the user ``given``: the
    paper's total batch split over the devices (unless --batch-size is given; ``resolve`` then
    cuts a share above --max-device-batch into accumulated micro-batches) and the linear
    scaling rule (unless --lr is given); run folder runs/<table>/<row>."""
    row = find(name)
    recipe = row.recipe
    values = dict(recipe.values, data_dir=data_dir(recipe.dataset), save_dir="runs/" + row.name,
                  devices=PAPER_DEVICES)
    if recipe.teacher_run:
        values["teacher_params"] = ("runs/table6/%s/checkpoints/best/model.params"
                                    % recipe.teacher_run)
    if "batch_size" not in given:
        count = devices.parse(given.get("devices", PAPER_DEVICES))[1]
        if recipe.total_batch % count:
            raise UsageError("the paper's total batch %d does not divide evenly over %d devices; "
                             "use a device count that divides it or pass --batch-size N (images "
                             "per device)" % (recipe.total_batch, count))
        values["batch_size"] = recipe.total_batch // count
    if "lr" not in given:
        values["lr_per_256"] = LR_PER_256
    return values


def paper_numbers(row):
    """The paper's accuracy of ``row`` as text."""
    if row.paper is None:
        return "not reported"
    if len(row.paper) == 4:
        return "val %.2f / %.2f, test %.2f / %.2f" % row.paper
    return "%.2f / %.2f" % row.paper


def describe(recipe):
    """The recipe's settings in a line: network, batch, lr and the flags beside the defaults."""
    flags = " ".join("%s=%s" % (k, ",".join(map(str, v)) if isinstance(v, list) else v)
                     for k, v in recipe.settings)
    return "%s, batch %d, lr %g: %s" % (recipe.model, recipe.total_batch,
                                        LR_PER_256 * recipe.total_batch / 256, flags)
