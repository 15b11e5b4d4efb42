"""``gluon-tricks demo``: one tiny end-to-end run (data, training, report) and the preset's pieces."""
import json
import os
import re

import pytest

from cli import one_line_error, run_cli
from gluon_tricks.commands import demo
from gluon_tricks.errors import UsageError
from gluon_tricks.runcore.folder import RunFolder
from gluon_tricks.runcore.metrics import read_metrics

PNG = b"\x89PNG\r\n\x1a\n"


def test_tiny_demo_writes_run_folder_and_report(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, "--epochs", 1, "--input-size", 32, "--batch-size", 8,
                   "--train-per-class", 2, "--val-per-class", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report_path = out / "report.md"
    assert str(report_path) in proc.stdout

    for name in ("accuracy.png", "loss.png", "lr.png"):
        with open(out / "plots" / name, "rb") as f:
            assert f.read(8) == PNG
    for name in ("model.params", "checkpoint.json"):
        assert os.path.isfile(out / "checkpoints" / "epoch-0001" / name)
    assert (out / "data" / "val.rec").is_file()

    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model"], cfg["lr_mode"], cfg["classes"], cfg["input_size"]) == \
        ("resnet50_v1d", "cosine", 10, 32)
    assert (cfg["label_smoothing"], cfg["mixup_alpha"], cfg["last_gamma"], cfg["no_wd"],
            cfg["init"], cfg["optimizer"]) == (0.1, 0.2, True, True, "xavier", "nag")
    assert abs(cfg["lr"] - 0.1 * 8 / 256) < 1e-12

    report = report_path.read_text()
    evals = [e for e in read_metrics(out / "metrics.jsonl") if e["kind"] == "eval"]
    assert len(evals) == 1
    assert "| this run, final epoch (1) | %.2f | %.2f |" % (100 * evals[0]["top1"],
                                                          100 * evals[0]["top5"]) in report
    assert "| 79.15 | 94.58 |" in report and "Table 6" in report
    assert "not comparable" in report
    for name in ("accuracy.png", "loss.png", "lr.png"):
        assert "](plots/%s)" % name in report

    # The report's `train` command resolves to the very config the demo trained with.
    command = re.search(r"```bash\ngluon-tricks train (.*)\n```", report).group(1).split()
    printed = run_cli("train", *command, "--print-config")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == cfg


def test_schedule_scales_warmup_and_mixup_off():
    assert demo.schedule(1) == (0, 0)
    assert demo.schedule(2) == (1, 1)
    assert demo.schedule(8) == (1, 1)
    assert demo.schedule(200) == (5, 20)


def test_log_interval_cuts_epochs_into_even_windows():
    assert demo.log_interval(80) == 20 and demo.log_interval(81) == 21
    assert demo.log_interval(2) == 1


def test_rerun_is_refused_and_overwrite_clears_the_run_but_keeps_data(tmp_path):
    for name in ("metrics.jsonl", "config.json", "report.md"):
        (tmp_path / name).write_text("old")
    for folder in ("checkpoints/epoch-0001", "plots", "data"):
        (tmp_path / folder).mkdir(parents=True)
    with pytest.raises(UsageError, match="already holds a run.*--resume.*--overwrite"):
        RunFolder(str(tmp_path)).claim("--out")
    assert len(os.listdir(tmp_path)) == 6
    RunFolder(str(tmp_path)).claim("--out", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["data"]


def test_gpus_that_do_not_exist_are_one_line_error(tmp_path):
    line = one_line_error(run_cli("demo", "--out", tmp_path, "--gpus", "7"))
    assert "GPU" in line
    assert not os.listdir(tmp_path)
