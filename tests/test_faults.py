"""Fault injection through the real CLI: kill -9 at chosen moments, then ``--resume DIR`` alone
must finish bit-identical to an uninterrupted run; damaged records, a full disk, read-only and
occupied outputs, and a wrong environment each end in one line with a known exit code.

The kill moments are events seen on disk (a progress line in metrics.jsonl, a checkpoint's
temporary folder), polled with generous limits, never timings.
"""
import contextlib
import json
import os
import shutil
import subprocess

import mxnet as mx
import numpy as np
import pytest

from cli import events, kill_when, one_line_error, run_cli, start_cli
from gluon_tricks.atomic import MARK
from gluon_tricks.cli import main
from gluon_tricks.data.recordfile import FRAME_HEADER, IMAGE_HEADER, read_idx

TINY = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
        "--batches-per-epoch", "4", "--log-interval", "1", "--num-epochs", "3",
        "--lr-decay-epoch", "2"]
SMALL = ["--model", "mobilenet0.25", "--input-size", "32", "--batch-size", "4", "--threads", "1",
         "--batches-per-epoch", "2", "--num-epochs", "2"]


@pytest.fixture
def cli_run(capsys):
    """Run the CLI in this process (no MXNet start-up per call) for what happens before any
    training; returns (exit code, stdout, stderr)."""
    def call(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err
    return call


@pytest.fixture
def cli_error(cli_run):
    """:func:`cli_run` that asserts the exit code and returns the single stderr line."""
    def call(*args, code=2):
        got, _, err = cli_run(*args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert got == code and len(lines) == 1, (got, err)
        return lines[0]
    return call


def temp_checkpoints(run):
    """The staging folders (gluon_tricks.atomic) of checkpoints being written."""
    folder = run / "checkpoints"
    return [n for n in os.listdir(folder) if MARK in n] if folder.is_dir() else []


def arrays(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def final_state(run):
    final = run / "checkpoints" / "epoch-0003"
    return arrays(final / "model.params"), arrays(final / "aux-ctx0.params")


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        assert all(np.array_equal(x[k], y[k]) for k in x)


# The record readers: DALI (the default) and ImageRecordIter.
BACKENDS = ["dali-cpu", "rec"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def straight(tiny_demo, tmp_path_factory, backend):
    run = tmp_path_factory.mktemp("straight") / "run"
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *TINY,
                   "--data-backend", backend)
    assert proc.returncode == 0, proc.stderr
    return final_state(run)


MOMENTS = {
    "before the first checkpoint": lambda run: any(e["kind"] == "train" for e in events(run)),
    "mid-epoch": lambda run: any(e["kind"] == "train" and e["epoch"] == 2 and e["batch"] == 2
                                 for e in events(run)),
    "during a checkpoint write": lambda run: bool(temp_checkpoints(run)),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_9_then_resume_dir_alone_is_bit_identical(tiny_demo, tmp_path, straight, backend,
                                                       moment):
    run = tmp_path / "run"
    kill_when(start_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *TINY,
                        "--data-backend", backend),
              lambda: MOMENTS[moment](run))
    if moment == "during a checkpoint write":
        assert temp_checkpoints(run), "the kill missed the write"
    if moment == "before the first checkpoint":
        assert not (run / "checkpoints").exists()
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert_same(final_state(run), straight)
    assert not temp_checkpoints(run)
    evals = [e["epoch"] for e in events(run) if e["kind"] == "eval"]
    assert evals == [1, 2, 3]
    steps = [(e["epoch"], e["batch"]) for e in events(run) if e["kind"] == "train"]
    assert len(steps) == len(set(steps)) == 12
    kept = sorted(os.listdir(run / "checkpoints"))
    assert kept == ["best", "epoch-0002", "epoch-0003", "latest"]


def test_rolling_checkpoints_keep_last_k_best_and_every_nth(tiny_demo, tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL[:-1], "5",
                   "--keep-last", "1", "--save-frequency", "2")
    assert proc.returncode == 0, proc.stderr
    assert {"epoch-0002", "epoch-0004", "epoch-0005", "best"} == \
        {n for n in os.listdir(run / "checkpoints") if n != "latest"}
    # --resume continues from the newest complete checkpoint, best included
    for name in ("epoch-0005", "epoch-0004"):
        shutil.rmtree(run / "checkpoints" / name)
    best = json.loads((run / "checkpoints" / "best" / "checkpoint.json").read_text())["epoch"]
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "checkpoints/%s (epoch %d done" % ("best" if best > 2 else "epoch-0002",
                                              max(best, 2)) in proc.stdout


def test_num_epochs_may_grow_only_when_the_schedule_keeps_its_formula(tiny_demo, tmp_path, cli_error):
    run = tmp_path / "run"
    assert run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL,
                   "--lr-decay-epoch", "1").returncode == 0
    proc = run_cli("train", "--resume", run, "--num-epochs", "3")
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2 done" in proc.stdout and "epoch 3/3 |" in proc.stdout
    longer = tmp_path / "longer"   # the same three epochs in one go: the same bits
    assert run_cli("train", "--data-dir", tiny_demo, "--save-dir", longer, *SMALL,
                   "--lr-decay-epoch", "1", "--num-epochs", "3").returncode == 0
    assert_same([arrays(run / "checkpoints" / "epoch-0003" / "model.params")],
                [arrays(longer / "checkpoints" / "epoch-0003" / "model.params")])
    cosine = tmp_path / "cosine"
    assert run_cli("train", "--data-dir", tiny_demo, "--save-dir", cosine, *SMALL,
                   "--lr-mode", "cosine").returncode == 0
    line = cli_error("train", "--resume", cosine, "--num-epochs", "3")
    assert "num_epochs (checkpoint: 2, now: 3)" in line and "step schedule" in line
    line = cli_error("train", "--resume", cosine, "--lr", "0.01")
    assert "lr (checkpoint: 0.1, now: 0.01)" in line


def damaged_copy(tiny_demo, tmp_path, offset_in_record, data=b"\0" * 64, record=5):
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_demo, data_dir)
    key, offset = sorted(read_idx(data_dir / "train.idx"), key=lambda e: e[1])[record]
    with open(data_dir / "train.rec", "r+b") as handle:
        handle.seek(offset + offset_in_record)
        handle.write(data)
    return data_dir, key, offset


@pytest.mark.parametrize("reader", BACKENDS)
def test_undecodable_record_stops_with_one_line_naming_it(tiny_demo, tmp_path, reader):
    """A whole epoch (12 batches of 4 of the 48 images) reaches the damaged record."""
    data_dir, key, offset = damaged_copy(tiny_demo, tmp_path,
                                         FRAME_HEADER.size + IMAGE_HEADER.size)
    proc = run_cli("train", "--data-dir", data_dir, "--save-dir", tmp_path / "run", *SMALL,
                   "--batches-per-epoch", "12", "--data-backend", reader)
    line = one_line_error(proc, code=1)
    assert "train.rec: record %d (byte %d) does not decode as an image" % (key, offset) in line
    assert "nothing was lost" in line and "--resume" in line
    assert "Traceback" not in proc.stderr


def damaged_val(tiny_demo, tmp_path):
    """A copy of ``tiny_demo`` whose 21st validation image does not decode: (folder, key, byte)."""
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_demo, data_dir, ignore=shutil.ignore_patterns("images"))
    key, offset = sorted(read_idx(data_dir / "val.idx"), key=lambda e: e[1])[20]
    with open(data_dir / "val.rec", "r+b") as handle:
        handle.seek(offset + FRAME_HEADER.size + IMAGE_HEADER.size)
        handle.write(b"\0" * 64)
    return data_dir, key, offset


def test_undecodable_validation_record_is_named_before_anything_is_written(tiny_demo, tmp_path,
                                                                          cli_error):
    """MXNet's validation reader dies of SIGFPE on such a record: it is found beforehand."""
    data_dir, key, offset = damaged_val(tiny_demo, tmp_path)
    line = cli_error("train", "--data-dir", data_dir, "--save-dir", tmp_path / "run", *SMALL)
    assert "val.rec: record %d (byte %d) does not decode as an image" % (key, offset) in line
    assert not (tmp_path / "run").exists()


def test_undecodable_validation_record_is_named_by_every_command_that_reads_it(
        tiny_demo, tiny_run, tmp_path, cli_error):
    """eval, zoo-check and figures read validation sets with the same reader: one line too."""
    data_dir, key, offset = damaged_val(tiny_demo, tmp_path)
    named = "val.rec: record %d (byte %d) does not decode as an image" % (key, offset)
    assert named in cli_error("eval", tiny_run, "--rec", data_dir / "val.rec")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    assert named in cli_error("zoo-check", "--models-dir", zoo, "--rec", data_dir / "val.rec")
    best = tiny_run / "checkpoints" / "best"
    assert named in cli_error("figures", tmp_path / "figs", "--checkpoint-a", best,
                              "--checkpoint-b", best, "--rec", data_dir / "val.rec")
    assert not (tmp_path / "figs").exists()


def test_framing_error_is_named_before_anything_is_written(tiny_demo, tmp_path):
    data_dir, key, offset = damaged_copy(tiny_demo, tmp_path, 0, b"\0" * FRAME_HEADER.size, 7)
    proc = run_cli("train", "--data-dir", data_dir, "--save-dir", tmp_path / "run", *SMALL)
    line = one_line_error(proc, code=2)
    assert "1 damaged record: record %d at byte %d (no record starts there" % (key, offset) in line
    assert not (tmp_path / "run").exists()


@contextlib.contextmanager
def mounted_tmpfs(path, options):
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip("cannot mount a tmpfs here (%s): needs root in a namespace that allows "
                    "mount" % proc.stderr.strip())
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_full_disk_during_a_checkpoint_is_one_line_and_loses_nothing(tiny_demo, tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "size=2600k") as disk:
        run = disk / "run"
        proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL)
        line = one_line_error(proc, code=1)
        assert ("no space left on the disk of %s while writing checkpoint %s"
                % (run / "checkpoints", run / "checkpoints" / "epoch-0001")) in line
        assert "nothing was lost: the last complete checkpoint is %s" % (
            run / "checkpoints" / "best") in line
        assert sorted(os.listdir(run / "checkpoints")) == ["best", "latest"] or \
            sorted(os.listdir(run / "checkpoints")) == ["best"]


def test_read_only_and_file_outputs_are_refused_before_writing(tiny_demo, tmp_path, cli_error):
    with mounted_tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        cases = [
            ("train", "--data-dir", tiny_demo, "--save-dir", ro / "run", *SMALL),
            ("make-demo-data", ro / "demo"),
            ("demo", "--out", ro / "demo", "--epochs", "1"),
            ("prepare", "folder", tiny_demo / "images" / "train", ro / "out" / "train"),
            ("export", "--model", "resnet18_v1b", "--params", tmp_path / "x.params", "--out",
             ro / "x"),
            ("figures", ro / "figs"),
        ]
        (tmp_path / "x.params").write_bytes(b"")
        for case in cases:
            line = cli_error(*case)
            assert "read-only" in line and str(ro) in line, (case, line)
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    line = cli_error("train", "--data-dir", tiny_demo, "--save-dir",
                                  blocker / "run", *SMALL)
    assert "%s is a file, not a folder" % blocker in line
    line = cli_error("figures", blocker / "figs")
    assert "is a file, not a folder" in line
    assert blocker.read_text() == "mine"


def test_occupied_outputs_are_refused_and_overwrite_replaces(tiny_demo, tmp_path, cli_error):
    run = tmp_path / "run"
    assert run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL).returncode == 0
    before = (run / "metrics.jsonl").read_text()
    line = cli_error("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL)
    assert "already holds a run" in line and "--resume %s" % run in line and "--overwrite" in line
    assert (run / "metrics.jsonl").read_text() == before
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert len([l for l in (run / "metrics.jsonl").read_text().splitlines()
                if '"eval"' in l]) == 2

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.rec").write_bytes(b"user data")
    for case in (("make-demo-data", mine, "--classes", "2", "--train-per-class", "1",
                  "--val-per-class", "1"),
                 ("demo", "--out", tmp_path / "d", "--data-dir", mine, "--epochs", "1"),
                 ("prepare", "folder", tiny_demo / "images" / "val", mine / "train")):
        line = cli_error(*case)
        assert "%s already exists and this command did not make it" % (mine / "train.rec") in line
        assert "--overwrite" in line
    assert (mine / "train.rec").read_bytes() == b"user data"
    assert not (tmp_path / "d").exists()
    (mine / "table5.md").write_text("mine")
    line = cli_error("figures", mine)
    assert "table5.md already exists" in line
    (mine / "net.onnx").write_text("mine")
    line = cli_error("export", "--model", "resnet18_v1b", "--params", mine / "none.params",
                     "--out", mine / "net")
    assert "net.onnx already exists" in line and "--overwrite" in line
    assert sorted(os.listdir(mine)) == ["net.onnx", "table5.md", "train.rec"]


def test_environment_faults_are_one_line_and_write_nothing(tiny_demo, tmp_path, cli_error):
    run = tmp_path / "run"
    line = cli_error("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL,
                                  "--dtype", "float16")
    assert "--dtype float16 needs a GPU" in line
    line = cli_error("train", "--data-dir", tiny_demo, "--save-dir", run, *SMALL,
                                  "--kvstore", "dist_sync")
    assert "gluon-tricks launch" in line
    assert not run.exists()


def test_class_count_comes_from_the_data_and_is_checked(tiny_demo, tmp_path, cli_error, cli_run):
    line = cli_error("train", "--data-dir", tiny_demo, "--save-dir", tmp_path / "r",
                                  *SMALL, "--classes", "2")
    assert "labels up to 2 but the network has 2 classes" in line
    data = tmp_path / "data"
    shutil.copytree(tiny_demo, data, ignore=shutil.ignore_patterns("images"))
    os.remove(data / "train.classes")
    for source in ("lst", "headers"):
        code, out, err = cli_run("train", "--data-dir", data, "--print-config")
        assert code == 0, err
        assert json.loads(out)["classes"] == 3, source
        if source == "lst":
            os.remove(data / "train.lst")
    line = cli_error("train", "--data-dir", data, "--input-size", "0")
    assert "--input-size must be at least 32 pixels, got 0" in line
    assert json.loads(cli_run("train", "--print-config", "--model", "inceptionv3")[1]
                      )["input_size"] == 299


def test_one_class_folder_and_folder_given_as_rec(tiny_demo, tmp_path, cli_error, cli_run):
    src = tmp_path / "src"
    shutil.copytree(tiny_demo / "images" / "train" / "circle", src / "circle")
    code, _, err = cli_run("prepare", "folder", src, tmp_path / "one" / "train", "--threads", 1)
    assert code == 0, err
    assert "holds one class; training needs at least two" in err
    line = cli_error("train", "--rec-train", tmp_path / "one" / "train.rec",
                                  "--rec-val", tmp_path / "one" / "train.rec", "--print-config")
    assert "train.classes gives 1 class; classification needs at least 2" in line
    line = cli_error("train", "--rec-train", tiny_demo, "--rec-val", tiny_demo,
                                  "--save-dir", tmp_path / "r", *SMALL)
    assert "%s is a folder, not a record file" % tiny_demo in line
    assert not (tmp_path / "r").exists()


def test_figures_checks_its_arguments_before_writing(tmp_path, cli_error):
    out = tmp_path / "figs"
    line = cli_error("figures", out, "--checkpoint-a", tmp_path / "nope",
                                  "--checkpoint-b", tmp_path / "nope")
    assert "--checkpoint-a" in line
    assert not out.exists()


def test_divergence_message_says_what_resume_can_and_cannot_do(tiny_demo, tmp_path):
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", tmp_path / "run", *TINY,
                   "--lr", "1e38", "--wd", "0", "--lr-mode", "cosine")
    line = one_line_error(proc, code=1)
    assert "refuses a new --lr" in line and "--save-dir" in line
    assert "gluon-tricks train --config %s" % (tmp_path / "run" / "config.json") in line
