"""A run folder's Markdown report: its measured numbers beside the paper row the run mirrors.

The numbers come from the run's own files (config.json, metrics.jsonl, plots/), so a report can
be rewritten for any finished run; the demo writes one after training.
"""
import os
from typing import NamedTuple, Optional

from .. import runconfig
from ..errors import UsageError
from . import folder
from .metrics import METRICS_FILE, read_metrics

PLOTS = (("accuracy.png", "Validation top-1/top-5 and training accuracy per epoch"),
         ("loss.png", "Training loss"),
         ("lr.png", "Learning rate of every update from the run's schedule, dots where the "
                    "loop logged it: linear warmup, then cosine decay (cf. paper Fig. 3a)"))


class PaperRow(NamedTuple):
    """One row of a paper table: what it is, its top-1/top-5 (%) and its recipe, setting by setting."""

    table: str
    model: str
    row: str
    top1: float
    top5: float
    data: str
    recipe: dict


# Paper Table 6, ResNet-50-D, "+ mixup w/o distill" (§5.4), the best recipe without a teacher;
# GluonCV's published resnet50_v1d zoo model is this run (REFERENCE.md §6).
TABLE6_RESNET50D_MIXUP = PaperRow(
    table="Table 6", model="ResNet-50-D", row="+ mixup w/o distill", top1=79.15, top5=94.58,
    data="ImageNet: 1.28 M training / 50 k validation images, 1000 classes",
    recipe={"model": "ResNet-50-D", "input size": "224 px", "epochs": "200 (mixup)",
            "batch": "1024 (8 GPUs × 128)", "learning rate": "0.4 = 0.1 × 1024 / 256",
            "warmup": "5 epochs, linear", "schedule": "cosine", "label smoothing": "ε = 0.1",
            "mixup": "α = 0.2", "zero γ": "yes", "no bias decay": "yes", "weight decay": "0.0001",
            "optimizer": "NAG, momentum 0.9", "init": "Xavier", "precision": "FP16",
            "augmentation": "§2.1 (random resized crop, flip, colour, PCA noise)"})


class RunSummary(NamedTuple):
    """What a finished run measured (accuracies as fractions)."""

    epochs: int
    final_top1: float
    final_top5: float
    best_top1: float
    best_top5: float
    best_epoch: int
    train_seconds: float
    steps: int
    img_per_sec: Optional[float]
    val_images: int


def read_config(run_dir):
    """The run's resolved TrainConfig as the dict its config.json holds."""
    saved = runconfig.read(run_dir)
    if saved is None:
        raise UsageError("%s is not a finished run folder: it has no %s"
                         % (run_dir, runconfig.CONFIG_FILE))
    return saved


def summarize(run_dir, config=None):
    """A :class:`RunSummary` from ``run_dir``'s metrics.jsonl; training img/s counts the images of
    every update (steps × total batch) over the summed epoch times, evaluation excluded."""
    config = config or read_config(run_dir)
    events = read_metrics(os.path.join(run_dir, METRICS_FILE))
    evals = [e for e in events if e.get("kind") == "eval"]
    epochs = [e for e in events if e.get("kind") == "epoch"]
    if not evals:
        raise UsageError("%s has no validation results in %s; did training finish?"
                         % (run_dir, METRICS_FILE))
    final = evals[-1]
    best = max(evals, key=lambda e: (e["top1"], e["top5"]))
    seconds = sum(e.get("seconds", 0.0) for e in epochs)
    steps = max(e.get("step", 0) for e in epochs) if epochs else 0
    images = steps * config.get("total_batch_size", 0)
    return RunSummary(epochs=int(final["epoch"]), final_top1=final["top1"], final_top5=final["top5"],
                      best_top1=best["top1"], best_top5=best["top5"], best_epoch=int(best["epoch"]),
                      train_seconds=seconds, steps=steps,
                      img_per_sec=images / seconds if seconds > 0 else None,
                      val_images=int(final.get("images", 0)))


def _pct(fraction):
    return "%.2f" % (100 * fraction)


def _minutes(seconds):
    return "%d min %02d s" % divmod(int(round(seconds)), 60)


def device_text(cfg):
    """The run's devices in words, e.g. "1 CPU", "8 GPUs", "4 workers × 1 GPU"."""
    kind, count = cfg["devices"].split(":")[0], cfg["num_devices"]
    devices = "%d %s%s" % (count, kind.upper(), "s" if count > 1 else "")
    if cfg.get("num_workers", 1) > 1:
        devices = "%d workers × %s" % (cfg["num_workers"], devices)
    return devices


def run_recipe(cfg, data_note):
    """The settings of ``cfg`` (a config dict) under the same keys as ``PaperRow.recipe``."""
    devices = device_text(cfg)
    smoothing = cfg["label_smoothing"]
    mixup = "off"
    if cfg["mixup_alpha"] > 0:
        mixup = "α = %g" % cfg["mixup_alpha"]
        if cfg["mixup_off_epoch"]:
            mixup += ", off for the last %d epoch(s)" % cfg["mixup_off_epoch"]
    lr = "%.4g" % cfg["lr"]
    if cfg.get("lr_per_256"):
        lr += " = %g × %d / 256" % (cfg["lr_per_256"], cfg["total_batch_size"])
    return {"model": cfg["model"], "input size": "%d px" % cfg["input_size"],
            "epochs": str(cfg["num_epochs"]),
            "batch": "%d (%s × %d)" % (cfg["total_batch_size"], devices, cfg["batch_size"]),
            "learning rate": lr, "warmup": "%d epoch(s), linear" % cfg["warmup_epochs"],
            "schedule": cfg["lr_mode"],
            "label smoothing": "ε = %g" % smoothing if smoothing else "off",
            "mixup": mixup, "zero γ": "yes" if cfg["last_gamma"] else "no",
            "no bias decay": "yes" if cfg["no_wd"] else "no", "weight decay": "%g" % cfg["wd"],
            "optimizer": "%s, momentum %g" % (cfg["optimizer"].upper(), cfg["momentum"]),
            "init": cfg["init"].capitalize(),
            "precision": "FP16" if cfg["dtype"] == "float16" else "FP32",
            "augmentation": "§2.1 (%s preset)" % cfg["aug"], "data": data_note}


def write_report(run_dir, paper, data_note, classes, wall_seconds=None, command=None,
                 title="gluon-tricks demo"):
    """Write ``run_dir/report.md`` comparing the run with ``paper`` (a :class:`PaperRow`); return its path.

    ``data_note`` describes the run's data set, ``classes`` its class count (for the chance
    level), ``wall_seconds`` the whole job's time if known, ``command`` the equivalent
    ``gluon-tricks train`` command line.
    """
    cfg = read_config(run_dir)
    run = summarize(run_dir, cfg)
    ours = run_recipe(cfg, data_note)
    lines = [
        "# %s: %s, %s \"%s\"" % (title, paper.model, paper.table, paper.row), "",
        "This run trains `%s` with the recipe of the paper's %s row \"%s\" (%s), scaled down "
        "in epochs and image size. The paper's numbers are on %s (%s); this run's data set is a "
        "%d-class toy (%s) trained for minutes instead of days, so **its accuracies are not "
        "comparable with the paper's: only the recipe is the same.**"
        % (cfg["model"], paper.table, paper.row, paper.model, paper.data.split(":")[0],
           paper.data.split(": ", 1)[-1], classes, data_note),
        "",
        "## Results", "",
        "| | top-1 (%) | top-5 (%) |", "|---|---:|---:|",
        "| this run, final epoch (%d) | %s | %s |"
        % (run.epochs, _pct(run.final_top1), _pct(run.final_top5)),
        "| this run, best epoch (%d) | %s | %s |"
        % (run.best_epoch, _pct(run.best_top1), _pct(run.best_top5)),
        "| chance on this data set (%d classes) | %s | %s |"
        % (classes, _pct(1.0 / classes), _pct(min(5, classes) / float(classes))),
        "| paper %s, %s %s (ImageNet, 1000 classes) | %.2f | %.2f |"
        % (paper.table, paper.model, paper.row, paper.top1, paper.top5),
        "",
        "Validation: %d images, resized and center-cropped (§2.1), every image once per epoch."
        % run.val_images, "",
        "## Run", "",
        "| | |", "|---|---|",
        "| epochs | %d (%d updates) |" % (run.epochs, run.steps),
        "| training time | %s (evaluation excluded) |" % _minutes(run.train_seconds),
        "| training speed | %s img/s on %s |"
        % ("%.1f" % run.img_per_sec if run.img_per_sec else "?", device_text(cfg)),
    ]
    lines.append("| checkpoints | `checkpoints/best` (best top-1), `checkpoints/epoch-%04d` (last) |"
                 % run.epochs)
    if wall_seconds is not None:
        lines.append("| whole job | %s (data, training, evaluation, report) |" % _minutes(wall_seconds))
    lines += ["", "## Recipe: the paper's settings and this run's", "",
              "| setting | paper (%s, %s) | this run |" % (paper.table, paper.row), "|---|---|---|"]
    for key in list(paper.recipe) + ["data"]:
        theirs = paper.data if key == "data" else paper.recipe[key]
        lines.append("| %s | %s | %s |" % (key, theirs, ours.get(key, "")))
    if command:
        lines += ["", "The same run with the `train` command:", "", "```bash", command, "```"]
    lines += ["", "## Plots", ""]
    for name, caption in PLOTS:
        if os.path.exists(os.path.join(run_dir, folder.PLOTS, name)):
            lines += ["**%s**" % caption, "", "![%s](plots/%s)" % (caption, name), ""]
    return folder.RunFolder(run_dir).write_report(lines)
