"""Run folders and outputs from someone else, through the real CLI: a checkpoint never runs code
(the pickled format 1 is refused in one line), start-up clean-up never deletes a user's file,
and no write follows a symbolic link or replaces what appeared at an output path meanwhile.

Moments inside a running command are events, never timings: a child that waits for a line on
stdin before it starts (so names derived from its pid can be planted first), and a FIFO among
the inputs, which the command opens only once it is past its start-up checks.
"""
import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cli import LIMIT, one_line_error, run_cli, start
from old_checkpoint import PICKLE_PLACES, make_run_pickled
from transfer_data import make_ade, make_voc, save_backbone

SMALL = ["--model", "mobilenet0.25", "--input-size", "32", "--batch-size", "4", "--threads", "1",
         "--batches-per-epoch", "2", "--num-epochs", "1"]
REFUSAL = "pickles, which can run any code when loaded, so it is not read"


def copy_run(run, tmp_path):
    copy = tmp_path / "shared-run"
    shutil.copytree(run, copy, symlinks=True)
    return copy


def victim(tmp_path, name="victim.txt"):
    """A user's file elsewhere that a link could point at."""
    path = tmp_path / name
    path.write_text("the user's own text\n")
    return path


@pytest.mark.parametrize("place", ["rng.pkl", "trainer-ctx0.states"])
def test_train_refuses_a_pickled_run_folder_before_writing(tiny_run, tmp_path, place):
    run = copy_run(tiny_run, tmp_path)
    marker = tmp_path / "marker"
    make_run_pickled(run, {place: str(marker)})
    log = (run / "train.log").read_bytes()
    proc = run_cli("train", "--resume", run)
    assert not marker.exists()
    line = one_line_error(proc)
    assert REFUSAL in line and "--pretrained %s" % (run / "checkpoints") in line
    assert "Traceback" not in proc.stderr
    assert (run / "train.log").read_bytes() == log


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    return save_backbone(str(tmp_path_factory.mktemp("backbone") / "resnet18_v1d.params"))


TRANSFER = {
    "segment": lambda tmp: ["--data-root", make_ade(str(tmp / "ade"), train=2, val=1),
                            "--base-size", 64, "--crop-size", 48, "--batch-size", 2],
    "detect": lambda tmp: ["--data-root", make_voc(str(tmp / "VOCdevkit")), "--short", 96,
                           "--max-size", 128, "--batches-per-epoch", 1, "--cpus", 2],
}


@pytest.mark.parametrize("command", list(TRANSFER))
def test_detect_and_segment_refuse_a_pickled_run_folder(tmp_path, backbone_file, command):
    run = tmp_path / "run"
    args = [command, "--backbone", "resnet18_v1d", "--backbone-params", backbone_file,
            "-j", 0, "--save-dir", run] + TRANSFER[command](tmp_path)
    proc = run_cli(*args, "--num-epochs", 1)
    assert proc.returncode == 0, proc.stderr
    markers = {name: str(tmp_path / ("marker-" + name)) for name in PICKLE_PLACES}
    make_run_pickled(run, markers)
    metrics, log = (run / "metrics.jsonl").read_bytes(), (run / "train.log").read_bytes()
    proc = run_cli(command, "--resume", run)
    assert not any(os.path.exists(marker) for marker in markers.values())
    line = one_line_error(proc)
    assert REFUSAL in line and "Traceback" not in proc.stderr
    assert (run / "metrics.jsonl").read_bytes() == metrics
    assert (run / "train.log").read_bytes() == log


# A user's folders (even) and files (odd) named like temporaries, old style and new style.
LOOKALIKES = ("photos.old-2019", "thesis.tex.tmp-99999", ".best.gluon-tricks-0123456789ab",
              "notes.del-4194000")


def lookalikes(folder):
    """What is left of the LOOKALIKES in ``folder``: a folder's listing, a file's bytes."""
    return {name: sorted(os.listdir(folder / name)) if (folder / name).is_dir() else
            (folder / name).read_bytes() for name in LOOKALIKES if (folder / name).exists()}


def plant_lookalikes(folder):
    """Put the LOOKALIKES into ``folder``; returns :func:`lookalikes` of it."""
    folder.mkdir(exist_ok=True)
    for name in LOOKALIKES[::2]:
        (folder / name).mkdir()
        (folder / name / "holiday.jpg").write_bytes(b"user data")
    for name in LOOKALIKES[1::2]:
        (folder / name).write_bytes(b"user data")
    return lookalikes(folder)


def test_start_up_clean_up_never_deletes_a_users_files(tiny_demo, tiny_run, tmp_path):
    mydocs = tmp_path / "mydocs"
    before = plant_lookalikes(mydocs)
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", mydocs, *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert lookalikes(mydocs) == before
    run = copy_run(tiny_run, tmp_path)
    before = plant_lookalikes(run / "checkpoints")
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert lookalikes(run / "checkpoints") == before


def test_a_train_log_link_is_refused_not_followed(tiny_demo, tmp_path):
    save = tmp_path / "run"
    save.mkdir()
    target = victim(tmp_path)
    os.symlink(target, save / "train.log")
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", save, *SMALL)
    line = one_line_error(proc)
    assert "train.log is a symbolic link" in line
    assert target.read_text() == "the user's own text\n"
    assert sorted(os.listdir(save)) == ["train.log"]


def test_a_saved_log_path_outside_the_run_folder_is_refused(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    outside = tmp_path / "elsewhere.log"
    for path in [run / "config.json"] + list((run / "checkpoints").glob("*/state.json")):
        data = json.loads(path.read_text())
        (data.get("config") or data)["logging_file"] = str(outside)
        path.write_text(json.dumps(data))
    log = (run / "train.log").read_bytes()
    line = one_line_error(run_cli("train", "--resume", run))
    assert "its saved --logging-file %s lies outside the run folder" % outside in line
    assert not outside.exists() and (run / "train.log").read_bytes() == log
    proc = run_cli("train", "--resume", run, "--logging-file", "again.log")
    assert proc.returncode == 0, proc.stderr
    assert not outside.exists() and (run / "again.log").exists()


def test_a_refused_resume_writes_nothing(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    line = one_line_error(run_cli("train", "--resume", run, "--model", "resnet50_v1d"))
    assert "model (checkpoint: resnet18_v1b, now: resnet50_v1d)" in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def gated(*args):
    """``gluon-tricks ARGS`` in a child that starts only once a line arrives on its stdin."""
    code = ("import sys\nsys.stdin.readline()\nfrom gluon_tricks.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return start([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=LIMIT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def plant_at_old_temp_names(proc, paths, target):
    """Links at the temporary names this program used to derive from its pid (NAME.tmp-PID)."""
    for path in paths:
        os.symlink(target, "%s.tmp-%d" % (path, proc.pid))
    proc.stdin.write("go\n")
    proc.stdin.flush()


def test_no_write_follows_a_link_planted_at_a_predictable_name(tiny_demo, tiny_run, tmp_path):
    target = victim(tmp_path)
    save = tmp_path / "run"
    save.mkdir()
    train = gated("train", "--data-dir", tiny_demo, "--save-dir", save, *SMALL)
    plant_at_old_temp_names(train, [save / "config.json"], target)
    out = tmp_path / "packed"
    out.mkdir()
    prepare = gated("prepare", "folder", tiny_demo / "images" / "val", out / "val", "--threads", 1)
    plant_at_old_temp_names(prepare, [out / ("val." + ext)
                                      for ext in ("rec", "idx", "lst", "classes")], target)
    exported = tmp_path / "exported"
    exported.mkdir()
    export = gated("export", "--params", tiny_run, "--out", exported / "net")
    plant_at_old_temp_names(export, [exported / "net-metadata.json"], target)
    for proc in (train, prepare, export):
        done = finish(proc)
        assert done.returncode == 0, done.stderr
    assert target.read_text() == "the user's own text\n"
    assert json.loads((save / "config.json").read_text())["model"] == "mobilenet0.25"
    assert json.loads((exported / "net-metadata.json").read_text())["classes"] == 3
    assert not os.path.islink(exported / "net-metadata.json")


@contextlib.contextmanager
def opened_by_the_command(fifo, proc):
    """Wait until ``proc`` opens the FIFO ``fifo`` for reading (it is then running, past its
    start-up checks); yield the FIFO's write end."""
    deadline = time.time() + LIMIT
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO:
                raise
        assert proc.poll() is None, "the command ended first: %s" % proc.communicate()[1]
        assert time.time() < deadline, "the command never opened %s" % fifo
        time.sleep(0.01)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def test_prepare_never_replaces_what_appears_at_its_outputs_meanwhile(tiny_demo, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(tiny_demo / "images" / "val", src)
    last = sorted(os.listdir(src))[-1]
    image = next((src / last).iterdir()).read_bytes()
    fifo = src / last / "zzz_last.jpg"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    target = victim(tmp_path)
    proc = gated("prepare", "folder", src, out / "val", "--no-shuffle", "--threads", 1)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    with opened_by_the_command(fifo, proc) as handle:
        (out / "val.idx").write_text("a file someone saved here meanwhile")
        os.symlink(target, out / "val.lst")
        handle.write(image)
    done = finish(proc)     # the progress bar, then one line
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "appeared while this command was writing it and was left as it is" in line
    assert (out / "val.idx").read_text() == "a file someone saved here meanwhile"
    assert os.readlink(out / "val.lst") == str(target)
    assert target.read_text() == "the user's own text\n"
    assert sorted(os.listdir(out)) == ["val.idx", "val.lst"]


def test_export_never_writes_through_a_link_that_appears_at_its_output(tiny_run, tmp_path):
    fifo = tmp_path / "names.txt"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    out.mkdir()
    target = victim(tmp_path)
    proc = gated("export", "--params", tiny_run, "--out", out / "net", "--class-names", fifo)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    with opened_by_the_command(fifo, proc) as handle:
        os.symlink(target, out / "net-symbol.json")
        handle.write(b"circle\nsquare\ntriangle\n")
    line = one_line_error(finish(proc))
    assert "net-symbol.json appeared while this command was writing it" in line
    assert target.read_text() == "the user's own text\n"
    assert os.listdir(out) == ["net-symbol.json"]
