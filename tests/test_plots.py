"""PNG figures of a run and of the paper (Fig. 3a, 4a, 4b), and the formulas behind them."""
import json
import os

import numpy as np
import pytest
from matplotlib.image import imread

from gluon_tricks import runconfig
from gluon_tricks.errors import UsageError
from gluon_tricks.lr_scheduler import lr_curve, make_scheduler
from gluon_tricks.plots import (logit_gaps, lr_schedule_curves, optimal_logit_gap,
                                plot_gap_histograms, plot_logit_gap, plot_lr_schedules, plot_run,
                                run_figures)
from gluon_tricks.runcore.metrics import MetricsLog, read_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    """A non-empty PNG that matplotlib reads back as an RGBA image of a sensible size."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) > 0
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] == 4
    assert image.shape[0] > 200 and image.shape[1] > 300


def assert_no_temp_files(folder):
    assert [name for name in os.listdir(folder) if name.endswith(".tmp")] == []


def write_run(run_dir, with_epochs=True):
    with MetricsLog(run_dir) as log:
        for epoch in range(1, 4):
            for batch in range(1, 11):
                step = (epoch - 1) * 10 + batch
                log.log(kind="train", epoch=epoch, batch=batch, step=step, lr=0.1 * step / 30,
                        loss=3.0 - 0.05 * step + 0.1 * np.sin(step))
            if with_epochs:
                log.log(kind="epoch", epoch=epoch, step=epoch * 10, metric="top1",
                        top1=0.2 * epoch)
                log.log(kind="eval", epoch=epoch, step=epoch * 10, top1=0.25 * epoch,
                        top5=0.3 * epoch)
    return os.path.join(run_dir, "metrics.jsonl")


def test_plot_run_writes_lr_loss_and_accuracy(tmp_path):
    metrics = write_run(str(tmp_path / "run"))
    out = str(tmp_path / "figs")
    written = plot_run(metrics, out)
    assert [os.path.basename(p) for p in written] == ["lr.png", "loss.png", "accuracy.png"]
    for path in written:
        assert_png(path)
    assert_no_temp_files(out)


def test_plot_run_skips_figures_without_data(tmp_path):
    metrics = write_run(str(tmp_path), with_epochs=False)
    written = plot_run(metrics, str(tmp_path))
    assert [os.path.basename(p) for p in written] == ["lr.png", "loss.png"]
    assert not os.path.exists(tmp_path / "accuracy.png")


def test_plot_run_draws_the_train_accuracy_of_epoch_events(tmp_path):
    with MetricsLog(str(tmp_path)) as log:
        for epoch in (1, 2):
            log.log(kind="epoch", epoch=epoch, step=10 * epoch, seconds=3.5, loss=2.0 / epoch,
                    train_acc=0.3 * epoch, mixup=False)
    written = plot_run(str(tmp_path / "metrics.jsonl"), str(tmp_path))
    assert [os.path.basename(p) for p in written] == ["accuracy.png"]
    assert_png(written[0])


def test_fig3a_curves_follow_the_schedulers():
    epochs, curves = lr_schedule_curves()
    ipe = 1281167 // 1024
    assert len(epochs) == 120 * ipe and epochs[-1] == 120
    step, cosine = curves["step"], curves["cosine"]
    peak = 5 * ipe - 1  # the last warmup update ends epoch 5
    assert epochs[peak] == 5
    assert step[peak] == pytest.approx(0.4) and cosine[peak] == pytest.approx(0.4)
    assert step[0] == pytest.approx(0.4 / (5 * ipe))
    assert np.all(np.diff(step[:peak + 1]) > 0)
    for first_epoch, lr in ((30, 0.04), (60, 0.004), (90, 0.0004)):
        assert step[first_epoch * ipe - 1] == pytest.approx(lr * 10)
        assert step[first_epoch * ipe] == pytest.approx(lr)
    assert step[-1] == pytest.approx(0.0004)
    assert 0 < cosine[-1] < 1e-9
    assert cosine[peak + (120 - 5) * ipe // 2] == pytest.approx(0.2, abs=1e-5)


def test_plot_lr_schedules_writes_png(tmp_path):
    path = str(tmp_path / "fig3a.png")
    assert plot_lr_schedules(path, num_epochs=12, warmup_epochs=1, step_epochs=(3, 6, 9),
                             iters_per_epoch=20) == path
    assert_png(path)
    assert_no_temp_files(str(tmp_path))


def test_optimal_logit_gap():
    assert optimal_logit_gap(0.1, 1000) == pytest.approx(9.10, abs=0.01)
    assert optimal_logit_gap(0.1, 1000) == pytest.approx(np.log(8991))
    assert optimal_logit_gap(0.5, 2) == pytest.approx(0.0)
    assert optimal_logit_gap(999 / 1000, 1000) == pytest.approx(0.0, abs=1e-12)
    gaps = optimal_logit_gap(np.array([0.01, 0.1, 0.5]), 1000)
    assert np.all(np.diff(gaps) < 0)
    for bad in (0.0, 1.0):
        with pytest.raises(UsageError):
            optimal_logit_gap(bad, 1000)
    with pytest.raises(UsageError):
        optimal_logit_gap(0.1, 1)


def test_logit_gaps_by_hand():
    logits = [[1.0, 2.0, 3.0],       # 3 − (1 + 2)/2
              [0.0, 0.0, 4.0],       # 4 − 0
              [5.0, 5.0, 1.0],       # a tie: 5 − (5 + 1)/2
              [-1.0, -3.0, -2.0]]    # −1 − (−5)/2
    np.testing.assert_allclose(logit_gaps(logits), [1.5, 4.0, 2.0, 1.5])
    with pytest.raises(UsageError):
        logit_gaps([1.0, 2.0])


def test_plot_logit_gap_writes_png(tmp_path):
    path = plot_logit_gap(str(tmp_path / "fig4a.png"))
    assert_png(path)


def test_plot_gap_histograms_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    one_hot = logit_gaps(rng.normal(0, 1, (300, 10)) + 12 * np.eye(10)[rng.integers(0, 10, 300)])
    smoothed = rng.normal(9.1, 1.0, 300)
    path = plot_gap_histograms(str(tmp_path / "fig4b.png"),
                               {"one-hot": one_hot, "label smoothing": smoothed})
    assert_png(path)
    with pytest.raises(UsageError):
        plot_gap_histograms(str(tmp_path / "empty.png"), {"one-hot": []})


def assert_integer_ticks(ax):
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_update_and_epoch_axes_have_integer_ticks(tmp_path):
    """5 updates over 3 epochs: matplotlib's default ticks would be 0.5, 1.0, 1.5, ..."""
    with MetricsLog(str(tmp_path)) as log:
        for step in range(1, 6):
            log.log(kind="train", epoch=1, batch=step, step=step, lr=0.1, loss=2.0 / step)
        for epoch in (1, 2, 3):
            log.log(kind="eval", epoch=epoch, step=5 * epoch, top1=0.1 * epoch, top5=0.3)
    figures = run_figures(read_metrics(str(tmp_path / "metrics.jsonl")))
    assert sorted(figures) == ["accuracy.png", "loss.png", "lr.png"]
    for fig in figures.values():
        assert_integer_ticks(fig.axes[0])


def test_lr_curve_is_the_runs_schedule_at_every_update(tiny_run):
    """A real run (3 epochs × 5 updates, 1 warmup epoch, cosine): the lr line has one point per
    update equal to the schedule the config describes, and the lr the loop logged lies on it."""
    config = json.loads((tiny_run / "config.json").read_text())
    events = read_metrics(str(tiny_run / "metrics.jsonl"))
    (ax,) = run_figures(events, config)["lr.png"].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    schedule, logged = lines["schedule (every update)"], lines["logged"]
    expected = lr_curve(make_scheduler("cosine", config["lr"], 5, 3, warmup_epochs=1), 15)
    np.testing.assert_array_equal(schedule.get_xdata(), np.arange(1, 16))
    np.testing.assert_allclose(schedule.get_ydata(), expected, rtol=1e-12)
    steps = np.asarray(logged.get_xdata(), dtype=int)
    assert len(steps) < 15                                  # logged every 2nd update only
    np.testing.assert_allclose(logged.get_ydata(), expected[steps - 1], rtol=1e-6)
    assert_integer_ticks(ax)
    assert "lr.png" in os.listdir(tiny_run / "plots")


def test_plot_run_reads_the_run_config_within_bounds(tmp_path):
    """runconfig.read, the one reader of a run folder's config.json (eval PATH, report, plots,
    resume), refuses what --config refuses; a folder without one has no settings."""
    assert runconfig.read(str(tmp_path)) is None
    (tmp_path / "config.json").write_text('{"model": ' + "[" * 200000 + "]" * 200000 + "}")
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(UsageError, match="the run's .*config.json nests"):
        plot_run(str(tmp_path / "metrics.jsonl"), str(tmp_path / "plots"))
    (tmp_path / "config.json").write_text('{"model": "resnet18_v1b"}')
    assert runconfig.read(str(tmp_path)) == {"model": "resnet18_v1b"}
