"""PNG figures: a run's lr/loss/accuracy curves and the paper's Fig. 3a, 4a and 4b.

Figures are drawn on matplotlib's Agg canvas without pyplot, so no screen or global backend
is needed, and each file is written to an exclusive temporary beside it and then renamed into
place (gluon_tricks.atomic); a figure drawn again replaces the earlier one.
"""
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import atomic, runconfig
from .errors import UsageError, shown
from .lr_scheduler import lr_curve, make_scheduler, scheduler_from_config
from .runcore.metrics import read_metrics

IMAGENET_TRAIN_IMAGES = 1281167
DPI = 120


def _figure(width=6.4, height=4.2):
    """A figure with one grid-lined axes on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig, path):
    """Write ``fig`` as PNG to ``path`` atomically, replacing an earlier drawing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.new_file(path, replace=True) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


def smooth(values, weight=0.9):
    """Exponential moving average, bias-corrected so the first points are not pulled to 0."""
    out = np.empty(len(values), dtype=np.float64)
    avg = 0.0
    for i, value in enumerate(values):
        avg = weight * avg + (1 - weight) * value
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def _series(events, kind, x_key, y_key):
    """(x, y) arrays of the ``kind`` events that hold numbers under both keys."""
    pairs = [(e[x_key], e[y_key]) for e in events
             if e.get("kind") == kind and isinstance(e.get(x_key), (int, float))
             and isinstance(e.get(y_key), (int, float))]
    if not pairs:
        return None
    x, y = zip(*pairs)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _train_metric(events):
    """(label, x, y) of the "epoch" events' train metric, or None if they have none.

    The metric is the key their "metric" field names, else "train_acc", else "top1".
    """
    epochs = [e for e in events if e.get("kind") == "epoch"]
    named = [e["metric"] for e in epochs if isinstance(e.get("metric"), str)]
    for name in named[-1:] + ["train_acc", "top1"]:
        series = _series(epochs, "epoch", "epoch", name)
        if series:
            label = name.replace("_", " ")
            return ((label if label.startswith("train") else "train " + label),) + series
    return None


def updates_per_epoch(events):
    """Optimizer updates per epoch of a run, from its "epoch" events (update count at each epoch's
    end) or else its "train" events past epoch 1; None before either exists."""
    for e in events:
        if e.get("kind") == "epoch" and e.get("step") and e.get("epoch"):
            return int(e["step"]) // int(e["epoch"])
    for e in events:
        if e.get("kind") == "train" and e.get("epoch", 1) > 1 and e.get("step"):
            return (int(e["step"]) - int(e["batch"])) // (int(e["epoch"]) - 1)
    return None


def _scheduled_lr(events, config):
    """(updates 1..N, lr of each) of the run's schedule up to its last logged update N, or None
    when the run is not a ``train`` run (its config has no ``lr_mode``: detect, segment) or its
    updates per epoch are unknown."""
    iters = updates_per_epoch(events)
    steps = [e["step"] for e in events if isinstance(e.get("step"), int)]
    if not config or "lr_mode" not in config or not iters or not steps:
        return None
    updates = np.arange(1, max(steps) + 1)
    return updates, lr_curve(scheduler_from_config(config, iters), len(updates))


def _integer_ticks(ax):
    """Ticks on whole numbers only along x (updates, epochs): no 7.5 on a count axis."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def run_figures(events, config=None):
    """The figures of a run's metrics events (see :mod:`gluon_tricks.runcore.metrics`), by file name.

    lr.png draws the schedule the run's ``config`` (its config.json) defines at every update,
    with the logged lr as markers; without a config only the logged points. loss.png has the
    "train" events' loss against "step"; accuracy.png the "eval" events' top1/top5 and the
    "epoch" events' train metric (see ``_train_metric``) against "epoch". A figure without
    data is left out.
    """
    figures = {}
    logged = _series(events, "train", "step", "lr")
    scheduled = _scheduled_lr(events, config)
    if logged or scheduled:
        fig, ax = _figure()
        if scheduled:
            ax.plot(*scheduled, color="tab:blue", label="schedule (every update)")
        if logged:
            ax.plot(*logged, "o", color="tab:blue", markersize=3, label="logged")
        ax.set(xlabel="update", ylabel="learning rate", title="Learning rate")
        ax.legend()
        _integer_ticks(ax)
        figures["lr.png"] = fig

    loss = _series(events, "train", "step", "loss")
    if loss:
        fig, ax = _figure()
        steps, values = loss
        ax.plot(steps, values, color="tab:orange", alpha=0.4, linewidth=0.8, label="raw")
        ax.plot(steps, smooth(values), color="tab:orange", label="smoothed (EMA 0.9)")
        ax.set(xlabel="update", ylabel="training loss", title="Training loss")
        ax.legend()
        _integer_ticks(ax)
        figures["loss.png"] = fig

    curves = []
    for key, label in (("top1", "val top-1"), ("top5", "val top-5")):
        series = _series(events, "eval", "epoch", key)
        if series:
            curves.append((label, series))
    train = _train_metric(events)
    if train:
        curves.append((train[0], train[1:]))
    if curves:
        fig, ax = _figure()
        for label, (epochs, values) in curves:
            ax.plot(epochs, values, marker="o" if len(epochs) < 30 else None, markersize=3,
                    label=label)
        ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy (cf. paper Fig. 3b)")
        ax.legend()
        _integer_ticks(ax)
        figures["accuracy.png"] = fig
    return figures


def plot_run(metrics_path, out_dir):
    """lr.png, loss.png and accuracy.png (paper Fig. 3 style) of the run whose metrics.jsonl is
    ``metrics_path`` (see :func:`run_figures`; its config.json is read when it sits beside the
    metrics; ``out_dir`` is the run's own plots folder, never a link). Returns the paths written."""
    atomic.make_folder(out_dir)
    figures = run_figures(read_metrics(metrics_path), runconfig.read(os.path.dirname(metrics_path)))
    return [_save(fig, os.path.join(out_dir, name)) for name, fig in figures.items()]


def lr_schedule_curves(base_lr=0.4, num_epochs=120, warmup_epochs=5, step_epochs=(30, 60, 90),
                       iters_per_epoch=IMAGENET_TRAIN_IMAGES // 1024):
    """Epoch at the end of each update, and the step and cosine lr of that update (Fig. 3a)."""
    total = num_epochs * iters_per_epoch
    epochs = np.arange(1, total + 1, dtype=np.float64) / iters_per_epoch
    curves = {mode: lr_curve(make_scheduler(mode, base_lr, iters_per_epoch, num_epochs,
                                            warmup_epochs, step_epochs=step_epochs), total)
              for mode in ("step", "cosine")}
    return epochs, curves


def plot_lr_schedules(out_path, base_lr=0.4, num_epochs=120, warmup_epochs=5,
                      step_epochs=(30, 60, 90), iters_per_epoch=IMAGENET_TRAIN_IMAGES // 1024):
    """Paper Fig. 3a: step vs cosine decay with linear warmup, batch 1024 on ImageNet."""
    epochs, curves = lr_schedule_curves(base_lr, num_epochs, warmup_epochs, step_epochs,
                                        iters_per_epoch)
    fig, ax = _figure()
    ax.plot(epochs, curves["step"], label="step decay")
    ax.plot(epochs, curves["cosine"], label="cosine decay")
    ax.set(xlabel="epoch", ylabel="learning rate", xlim=(0, num_epochs), ylim=(0, None),
           title="Learning rate schedules with %d warmup epochs (paper Fig. 3a)" % warmup_epochs)
    ax.legend()
    return _save(fig, out_path)


def optimal_logit_gap(eps, classes=1000):
    """Gap between the true-class logit and the others at the optimum of label smoothing.

    Paper §5.2 eq. 5: log((K−1)(1−ε)/ε); about 9.10 for K = 1000, ε = 0.1. ``eps`` may be an array.
    """
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise UsageError("classes must be an integer >= 2, got %s" % shown(classes, quoted=True))
    eps = np.asarray(eps, dtype=np.float64)
    if not np.all((eps > 0) & (eps < 1)):
        raise UsageError("label smoothing eps must be in (0, 1)")
    gap = np.log((classes - 1) * (1 - eps) / eps)
    return float(gap) if gap.ndim == 0 else gap


def plot_logit_gap(out_path, classes=1000, eps=0.1):
    """Paper Fig. 4a: the optimal logit gap against ε, with the point at ``eps`` marked."""
    grid = np.linspace(0.005, 0.995, 397)
    fig, ax = _figure()
    ax.plot(grid, optimal_logit_gap(grid, classes), label="log((K-1)(1-ε)/ε), K = %d" % classes)
    gap = optimal_logit_gap(eps, classes)
    ax.plot([eps], [gap], "o", color="tab:red")
    ax.annotate("ε = %g: gap %.2f" % (eps, gap), (eps, gap), xytext=(12, 8),
                textcoords="offset points")
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set(xlabel="ε", ylabel="optimal gap", xlim=(0, 1),
           title="Theoretical logit gap under label smoothing (paper Fig. 4a)")
    ax.legend()
    return _save(fig, out_path)


def logit_gaps(logits):
    """Per row of (N, K) logits: the max minus the mean of the other K−1 (paper §5.2, Fig. 4b)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise UsageError("logits must have shape (samples, classes >= 2), got %s" % (z.shape,))
    top = z.max(axis=1)
    return top - (z.sum(axis=1) - top) / (z.shape[1] - 1)


def plot_gap_histograms(out_path, gaps_by_label, classes=1000, eps=0.1, bins=60):
    """Paper Fig. 4b: density of the logit gaps of each model, e.g. one-hot vs label smoothing.

    ``gaps_by_label`` maps a legend label to an array of gaps (see :func:`logit_gaps`); the
    theoretical optimum for ``eps`` and ``classes`` is drawn as a dashed line (eps=None: none).
    """
    data = {label: np.asarray(gaps, dtype=np.float64).ravel()
            for label, gaps in gaps_by_label.items()}
    data = {label: gaps[np.isfinite(gaps)] for label, gaps in data.items()}
    if not data or any(gaps.size == 0 for gaps in data.values()):
        raise UsageError("plot_gap_histograms needs a non-empty array of finite gaps per label")
    edges = np.histogram_bin_edges(np.concatenate(list(data.values())), bins=bins)
    fig, ax = _figure()
    for label, gaps in data.items():
        ax.hist(gaps, bins=edges, density=True, histtype="stepfilled", alpha=0.45, label=label)
    if eps is not None:
        gap = optimal_logit_gap(eps, classes)
        ax.axvline(gap, color="black", linestyle="--", linewidth=1,
                   label="optimal gap %.2f (ε = %g, K = %d)" % (gap, eps, classes))
    ax.set(xlabel="max logit − mean of the others", ylabel="density",
           title="Distribution of logit gaps (paper Fig. 4b)")
    ax.legend()
    return _save(fig, out_path)


def plot_table(out_path, header, rows, title=None, note=None):
    """A table of strings drawn as an image (e.g. paper Table 5 beside measured values), with
    ``note`` as a small caption under it. Columns are as wide as their longest text."""
    if not rows or any(len(row) != len(header) for row in rows):
        raise UsageError("plot_table needs rows with one cell per column of %s" % (header,))
    cells = [[str(c) for c in row] for row in rows]
    chars = [max(len(r[i]) for r in [list(header)] + cells) + 2 for i in range(len(header))]
    width = max(6.4, 0.085 * sum(chars))
    fig = Figure(figsize=(width, 0.9 + 0.3 * (len(rows) + 1)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=list(header), loc="center", cellLoc="center",
                     colWidths=[c / sum(chars) for c in chars])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.4)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#e6e6e6")
    if title:
        ax.set_title(title)
    if note:
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8, color="#444444")
    return _save(fig, out_path)


def plot_scores(metrics_path, out_path, keys, title):
    """The "eval" events' ``keys`` (e.g. mAP, or pixAcc and mIoU, §6) against the epoch; None if
    the log has none."""
    events = read_metrics(metrics_path)
    curves = [(key, _series(events, "eval", "epoch", key)) for key in keys]
    curves = [(key, series) for key, series in curves if series]
    if not curves:
        return None
    fig, ax = _figure()
    for key, (epochs, values) in curves:
        ax.plot(epochs, values, marker="o" if len(epochs) < 30 else None, markersize=3, label=key)
    ax.set(xlabel="epoch", ylabel="score", title=title)
    ax.legend()
    return _save(fig, out_path)
