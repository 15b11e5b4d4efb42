"""GluonCV's published training commands (the zoo's ``*.sh`` beside each log, gluon-cv 0.10/0.11
train_imagenet.py) run with ``gluon-tricks train`` in place of ``python train_imagenet.py``.

The commands below are copied from the published scripts; the expectations are read off the
commands by hand (GluonCV: total batch = --batch-size × --num-gpus, lr as given).
"""
import contextlib
import io
import json
import shlex
import sys

import pytest

from cli import one_line_error, run, run_cli

REC = ("--rec-train /media/ramdisk/rec/train.rec --rec-train-idx /media/ramdisk/rec/train.idx "
       "--rec-val /media/ramdisk/rec/val.rec --rec-val-idx /media/ramdisk/rec/val.idx ")
OLD_V1 = ("--batch-size 64 --num-gpus 4 -j 32 --mode hybrid --num-epochs 150 --lr 0.1 "
          "--momentum 0.9 --wd 0.0001 --lr-decay 0.1 --lr-decay-epoch 30,60,90 --model %s")


def cosine(model, lr, epochs, batch, gpus, workers, tail):
    return (REC + "--model %s --mode hybrid --lr %s --lr-mode cosine --num-epochs %d "
            "--batch-size %d --num-gpus %d -j %d %s --save-dir params_%s --logging-file %s.log"
            % (model, lr, epochs, batch, gpus, workers, tail, model, model))


FP16_LS = "--use-rec --dtype float16 --warmup-epochs 5 --last-gamma --no-wd --label-smoothing"
MOBILE = "--use-rec --dtype float16 --warmup-epochs 5 --no-wd --label-smoothing"
# name: (command, (GPUs, images per GPU, lr, lr mode, epochs, dtype, last γ, no wd, ε, α, -j))
COMMANDS = {
    "resnet18_v1": (OLD_V1 % "resnet18_v1", (4, 64, 0.1, "step", 150, "float32", 0, 0, 0, 0, 32)),
    "resnet34_v1": (OLD_V1 % "resnet34_v1", (4, 64, 0.1, "step", 150, "float32", 0, 0, 0, 0, 32)),
    "resnet50_v1": (OLD_V1 % "resnet50_v1", (4, 64, 0.1, "step", 150, "float32", 0, 0, 0, 0, 32)),
    "resnet101_v1": (cosine("resnet101_v1", 0.4, 120, 128, 8, 60,
                            "--warmup-epochs 5 --use-rec --dtype float16"),
                     (8, 128, 0.4, "cosine", 120, "float16", 0, 0, 0, 0, 60)),
    "resnet152_v1": (OLD_V1 % "resnet152_v1", (4, 64, 0.1, "step", 150, "float32", 0, 0, 0, 0, 32)),
    "resnet18_v1b": (cosine("resnet18_v1b", 0.4, 120, 256, 4, 30,
                            "--warmup-epochs 5 --use-rec --last-gamma"),
                     (4, 256, 0.4, "cosine", 120, "float32", 1, 0, 0, 0, 30)),
    "resnet34_v1b": (cosine("resnet34_v1b", 0.4, 120, 256, 4, 30,
                            "--warmup-epochs 5 --use-rec --last-gamma"),
                     (4, 256, 0.4, "cosine", 120, "float32", 1, 0, 0, 0, 30)),
    "resnet50_v1b": (cosine("resnet50_v1b", 0.4, 120, 128, 8, 60,
                            "--warmup-epochs 5 --use-rec --last-gamma"),
                     (8, 128, 0.4, "cosine", 120, "float32", 1, 0, 0, 0, 60)),
    "resnet101_v1b": (cosine("resnet101_v1b", 0.4, 120, 128, 8, 60,
                             "--warmup-epochs 5 --use-rec --dtype float16 --last-gamma"),
                      (8, 128, 0.4, "cosine", 120, "float16", 1, 0, 0, 0, 60)),
    "resnet152_v1b": (cosine("resnet152_v1b", 0.1, 120, 32, 8, 60,
                             "--warmup-epochs 5 --use-rec --last-gamma --no-wd --label-smoothing"),
                      (8, 32, 0.1, "cosine", 120, "float32", 1, 1, 0.1, 0, 60)),
    "resnet50_v1c": (cosine("resnet50_v1c", 0.4, 120, 128, 8, 60, FP16_LS),
                     (8, 128, 0.4, "cosine", 120, "float16", 1, 1, 0.1, 0, 60)),
    "resnet101_v1c": (cosine("resnet101_v1c", 0.4, 120, 128, 8, 60, FP16_LS),
                      (8, 128, 0.4, "cosine", 120, "float16", 1, 1, 0.1, 0, 60)),
    "resnet152_v1c": (cosine("resnet152_v1c", 0.1, 120, 32, 8, 60,
                             "--warmup-epochs 5 --use-rec --last-gamma --no-wd --label-smoothing"),
                      (8, 32, 0.1, "cosine", 120, "float32", 1, 1, 0.1, 0, 60)),
    "resnet50_v1d": (cosine("resnet50_v1d", 0.4, 120, 128, 8, 60, FP16_LS),
                     (8, 128, 0.4, "cosine", 120, "float16", 1, 1, 0.1, 0, 60)),
    "resnet50_v1d-mixup": (cosine("resnet50_v1d", 0.4, 200, 128, 8, 60, FP16_LS + " --mixup"),
                           (8, 128, 0.4, "cosine", 200, "float16", 1, 1, 0.1, 0.2, 60)),
    "resnet101_v1d-mixup": (cosine("resnet101_v1d", 0.4, 200, 128, 8, 60, FP16_LS + " --mixup"),
                            (8, 128, 0.4, "cosine", 200, "float16", 1, 1, 0.1, 0.2, 60)),
    "resnet152_v1d": (cosine("resnet152_v1d", 0.2, 120, 64, 8, 60,
                             "--warmup-epochs 5 --use-rec --last-gamma --no-wd --label-smoothing"),
                      (8, 64, 0.2, "cosine", 120, "float32", 1, 1, 0.1, 0, 60)),
    "resnet152_v1d-mixup": (cosine("resnet152_v1d", 0.1, 200, 32, 8, 60, "--use-rec "
                                   "--warmup-epochs 5 --last-gamma --no-wd --label-smoothing "
                                   "--mixup"),
                            (8, 32, 0.1, "cosine", 200, "float32", 1, 1, 0.1, 0.2, 60)),
    "inceptionv3-mixup": (cosine("inceptionv3", 0.4, 200, 128, 8, 60,
                                 "--input-size 299 " + MOBILE + " --mixup"),
                          (8, 128, 0.4, "cosine", 200, "float16", 0, 1, 0.1, 0.2, 60)),
}
for width in ("0.25", "0.5", "0.75", "1.0"):
    COMMANDS["mobilenet" + width] = (cosine("mobilenet" + width, 0.4, 120, 128, 8, 60, MOBILE),
                                     (8, 128, 0.4, "cosine", 120, "float16", 0, 1, 0.1, 0, 60))


def print_config(argv):
    """``gluon-tricks train ARGV --print-config`` through the real CLI, in this process."""
    from gluon_tricks.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train"] + list(argv) + ["--print-config"])
    assert code == 0, argv
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_published_command_resolves_to_what_gluoncv_trained(name):
    command, expected = COMMANDS[name]
    gpus, per_gpu, lr, mode, epochs, dtype, last_gamma, no_wd, eps, alpha, workers = expected
    cfg = print_config(shlex.split(command))
    model = name.split("-")[0]
    assert cfg["model"] == model
    assert cfg["devices"] == "gpu:" + ",".join(map(str, range(gpus)))
    assert (cfg["batch_size"], cfg["total_batch_size"]) == (per_gpu, per_gpu * gpus)
    assert cfg["lr"] == pytest.approx(lr) and cfg["lr_mode"] == mode
    assert cfg["num_epochs"] == epochs and cfg["dtype"] == dtype
    assert (cfg["last_gamma"], cfg["no_wd"]) == (bool(last_gamma), bool(no_wd))
    assert cfg["label_smoothing"] == eps and cfg["mixup_alpha"] == alpha
    assert cfg["threads"] == workers
    assert cfg["warmup_epochs"] == (0 if mode == "step" else 5)
    assert cfg["input_size"] == (299 if model == "inceptionv3" else 224)
    if mode == "step":
        assert cfg["lr_decay_epochs"] == [30, 60, 90] and cfg["lr_decay"] == 0.1
    assert cfg["rec_train"] == "/media/ramdisk/rec/train.rec" or "--rec-train" not in command
    assert cfg["preset"] == "paper" and cfg["init"] == "xavier"


def test_preset_gluoncv_makes_a_published_command_what_gluoncv_trained():
    command, _ = COMMANDS["resnet50_v1d-mixup"]
    cfg = print_config(shlex.split(command) + ["--preset", "gluoncv"])
    assert (cfg["preset"], cfg["aug"], cfg["smoothing_style"], cfg["init"],
            cfg["mixup_pairing"], cfg["hard_weight"]) == ("gluoncv", "gluoncv", "gluoncv", "msra",
                                                          "reverse", 0.5)
    assert cfg["mixup_alpha"] == 0.2 and cfg["lr"] == pytest.approx(0.4)
    assert cfg["data_backend"] == "rec"         # GluonCV's colour jitter is ImageRecordIter's


@pytest.mark.parametrize("name", ["resnet50_v1d-mixup", "resnet101_v1b", "mobilenet1.0"])
@pytest.mark.parametrize("backend", ["dali-gpu", "dali-cpu"])
def test_published_command_with_a_dali_backend_resolves(name, backend):
    """GluonCV's --data-backend dali-gpu/dali-cpu: the same run, decoded by DALI (§2.1 steps 1-3
    drawn per image; steps 4-6 on the GPUs)."""
    command, expected = COMMANDS[name]
    plain = print_config(shlex.split(command))
    cfg = print_config(shlex.split(command) + ["--data-backend", backend])
    assert cfg["data_backend"] == backend and cfg["aug"] == "paper"
    assert {k: v for k, v in cfg.items() if k != "data_backend"} == \
        {k: v for k, v in plain.items() if k != "data_backend"}
    assert cfg["devices"] == "gpu:" + ",".join(map(str, range(expected[0])))


def test_dali_with_an_image_record_iter_colour_preset_is_one_line():
    command, _ = COMMANDS["resnet50_v1d"]
    line = one_line_error(run_cli("train", *shlex.split(command), "--preset", "gluoncv",
                                  "--data-backend", "dali-gpu", "--print-config"))
    assert "--aug gluoncv runs in ImageRecordIter's decoding threads" in line
    assert "--data-backend rec" in line and "use --aug paper" in line


def test_published_command_in_a_subprocess():
    command, _ = COMMANDS["mobilenet0.25"]
    proc = run_cli("train", *shlex.split(command), "--print-config")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert (cfg["model"], cfg["total_batch_size"], cfg["logging_file"]) == (
        "mobilenet0.25", 1024, "mobilenet0.25.log")


def test_mode_is_never_taken_for_model():
    """argparse prefix matching once turned --mode into --model; GluonCV puts --mode anywhere."""
    assert print_config(["--mode", "hybrid", "--model", "resnet18_v1"])["model"] == "resnet18_v1"
    assert print_config(["--model", "resnet18_v1", "--mode", "hybrid"])["model"] == "resnet18_v1"


@pytest.mark.parametrize("args, expected", [
    (["--lr-decay-period", "30"], dict(lr_decay_epochs=[30, 60, 90])),
    (["--lr-decay-period", "40", "--num-epochs", "100"], dict(lr_decay_epochs=[40, 80])),
    (["--num-training-samples", "1281167", "--num-gpus", "8", "--batch-size", "128"],
     dict(batches_per_epoch=1251)),
    (["--data-backend", "mxnet"], dict(data_backend="rec")),
    ([], dict(data_backend="dali-cpu")),
    (["--aug", "paper-decoder"], dict(data_backend="rec")),
    (["--rgb-mean", "123.68,116.779,103.939", "--rgb-std", "58.393,57.12,57.375",
      "--crop-ratio", "0.875", "--warmup-lr", "0"], dict(aug="paper")),
    (["--num-data-workers", "7"], dict(threads=7)),
    (["--smoothing", "0.2"], dict(label_smoothing=0.2)),
    (["--mixup-alpha", "0.4", "--mixup"], dict(mixup_alpha=0.4)),
    (["--mixup-alpha", "0.4"], dict(mixup_alpha=0.0)),
])
def test_gluoncv_flags_keep_their_meaning(args, expected):
    cfg = print_config(args)
    for key, value in expected.items():
        assert cfg[key] == value, (key, cfg[key])


@pytest.mark.parametrize("args, needle", [
    (["--use_se"], "--use_se (SE blocks for ResNeXt) is outside the paper"),
    (["--batch-norm"], "--batch-norm (VGG with BatchNorm) is outside the paper"),
    (["--use-gn"], "--use-gn (GroupNorm) is outside the paper"),
    (["--rgb-mean", "0,0,0"], "--rgb-mean 0,0,0: training here normalises with the paper's"),
    (["--rgb-std", "1,1,1"], "--rgb-std 1,1,1"),
    (["--crop-ratio", "0.8"], "--crop-ratio 0.8"),
    (["--warmup-lr", "0.01"], "--warmup-lr 0.01"),
    (["--mode", "imperative"], "always trains the hybridized network"),
    (["--resume-epoch", "10", "--resume-params", "p/x.params", "--save-dir", "runs/a"],
     "gluon-tricks train ... --resume runs/a"),
])
def test_what_gluon_tricks_does_not_do_is_one_line(args, needle):
    assert needle in one_line_error(run_cli("train", "--print-config", *args))


def test_logging_file_gets_the_terminal_lines(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", "--data-backend", "synthetic", "--model", "resnet18_v1b",
                   "--classes", 3, "--cpus", 1, "--batch-size", 2, "--input-size", 32,
                   "--batches-per-epoch", 2, "--num-epochs", 1, "--log-interval", 1,
                   "--save-dir", run, "--logging-file", "gluoncv.log")
    assert proc.returncode == 0, proc.stderr
    log = (run / "gluoncv.log").read_text().splitlines()
    shown = [line for line in proc.stdout.splitlines() if line.strip()]
    assert shown and all(line in log for line in shown)
    assert any(line.startswith("epoch 1/1") for line in log)


def test_version_and_print_config_into_head():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("gluon-tricks ")
    script = ("%s -m gluon_tricks train --print-config --recipe table6/resnet50d-mixup "
              "| head -c 1" % shlex.quote(sys.executable))
    proc = run(["bash", "-c", script])
    assert proc.stdout == "{" and "Traceback" not in proc.stderr and "Error" not in proc.stderr
    # A reader that is gone before anything is written: no traceback, SIGPIPE's exit code.
    script = script.replace("head -c 1", "true") + '; echo "${PIPESTATUS[0]}"'
    proc = run(["bash", "-c", script])
    assert proc.stdout.strip() in ("0", "141") and proc.stderr == "", proc.stderr
