"""Fine-tuning: --pretrained from a GluonCV zoo file, a checkpoint or a run folder,
--use-pretrained through GluonCV's model store, --lr-mult-body, and exact resume."""
import json
import os
import shutil

import mxnet as mx
import numpy as np

from gluon_tricks.models import get_model, initialize

from cli import one_line_error, run_cli
from test_train import TINY, params_of

SYNTHETIC = ("--data-backend", "synthetic", "--batches-per-epoch", "2", "--num-epochs", "1")


def gluoncv_file(path, model="resnet18_v1b"):
    """A 1000-class network saved by GluonCV itself, randomly initialised (no download)."""
    from gluoncv.model_zoo import get_model as gluoncv_model
    net = gluoncv_model(model, pretrained=False)
    net.initialize(mx.init.Xavier(magnitude=3))
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.save_parameters(str(path))
    return path


def train(data, save_dir, *extra):
    return run_cli("train", "--data-dir", data, "--save-dir", save_dir, *TINY, *extra)


def test_finetune_a_1000_class_gluoncv_file_on_3_classes_then_evaluate(tiny_demo, tmp_path):
    """The body comes from the file (at a 10⁻⁶ lr multiplier it stays within 10⁻⁴ of it, where
    any fresh initialisation is ~10⁻² away), the classifier starts afresh for the 3 classes and
    trains; eval scores the run folder."""
    source = gluoncv_file(tmp_path / "gluoncv-resnet18_v1b.params")
    run = tmp_path / "run"
    proc = train(tiny_demo, run, "--num-epochs", "1", "--pretrained", source,
                 "--lr-mult-body", "1e-6", "--lr", "0.05")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("starting from %s: every parameter but the classifier" % source)
    assert "re-initialised (--init xavier) for 3 classes (the file's has 1000)" in first
    file, trained = params_of(source), params_of(run / "checkpoints" / "best" / "model.params")
    assert trained["fc.weight"].shape == (3, 512) and file["fc.weight"].shape == (1000, 512)
    for key in ("conv1.weight", "layer4.1.conv2.weight", "layer2.0.bn1.gamma"):
        np.testing.assert_allclose(trained[key], file[key], rtol=0, atol=1e-4)
    assert json.loads((run / "config.json").read_text())["pretrained"] == str(source)
    evaluated = run_cli("eval", run)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "(24/24)" in evaluated.stdout    # top-5 of 3 classes: every val image


def test_a_run_folder_with_the_same_classes_gives_every_parameter(tiny_run, tmp_path):
    proc = run_cli("train", "--save-dir", tmp_path / "run", *TINY, *SYNTHETIC, "--classes", "3",
                   "--pretrained", tiny_run)
    assert proc.returncode == 0, proc.stderr
    best = os.path.join(str(tiny_run), "checkpoints", "best", "model.params")
    assert proc.stdout.splitlines()[0] == ("starting from %s (every parameter, the classifier's "
                                           "3 classes included)" % best)


def test_weights_of_another_network_are_one_line(tiny_demo, tmp_path):
    other = get_model("resnet34_v1b", classes=3)
    other.infer_shape(mx.nd.zeros((1, 3, 32, 32)))
    initialize(other)
    other.save_parameters(str(tmp_path / "r34.params"))
    line = one_line_error(run_cli("train", "--save-dir", tmp_path / "a", *TINY, *SYNTHETIC,
                                  "--pretrained", tmp_path / "r34.params"))
    assert "r34.params has 80 array(s) resnet18_v1b lacks, e.g. layer1.2." in line
    assert "check --model and --pretrained" in line
    line = one_line_error(run_cli("train", "--save-dir", tmp_path / "b", *TINY, *SYNTHETIC,
                                  "--model", "resnet18_v1", "--pretrained", tmp_path / "r34.params"))
    assert "lacks" in line and "resnet18_v1" in line
    line = one_line_error(run_cli("train", "--save-dir", tmp_path / "c", *TINY, *SYNTHETIC,
                                  "--pretrained", tmp_path / "none"))
    assert "pretrained parameters %s not found" % (tmp_path / "none") in line


def test_use_pretrained_asks_gluoncvs_model_store_and_is_one_line_offline(tmp_path):
    """GluonCV's flag: the zoo file of --model in $MXNET_HOME/models, fetched when missing; this
    machine reaches package registries only, so one line says where to put the file."""
    from gluoncv.model_zoo.model_store import short_hash
    cfg = json.loads(run_cli("train", "--print-config", "--use-pretrained").stdout)
    assert cfg["use_pretrained"] is True and cfg["pretrained"] is None
    proc = run_cli("train", "--save-dir", tmp_path / "run", *TINY, *SYNTHETIC, "--use-pretrained",
                   env={"MXNET_HOME": str(tmp_path / "home")})
    line = one_line_error(proc)
    name = "resnet18_v1b-%s" % short_hash("resnet18_v1b")
    assert "cannot download resnet18_v1b through GluonCV's model store" in line
    assert "unzip %s.params into %s" % (name, tmp_path / "home" / "models") in line
    assert line.endswith("then run again (or pass the file with --pretrained FILE)")
    assert os.listdir(tmp_path / "home" / "models") == []


def test_fine_tuning_flags_that_do_not_fit_are_one_line(tmp_path):
    line = one_line_error(run_cli("train", "--print-config", "--lr-mult-body", "0.1"))
    assert "--lr-mult-body is for fine-tuning: add --pretrained PATH or --use-pretrained" in line
    line = one_line_error(run_cli("train", "--print-config", "--use-pretrained", "--pretrained",
                                  tmp_path / "x.params"))
    assert "--pretrained and --use-pretrained" in line
    line = one_line_error(run_cli("train", "--print-config", "--pretrained", "p", "--lr-mult-body",
                                  "0"))
    assert "--lr-mult-body must be > 0" in line


def test_resume_of_a_finetuned_run_is_bit_identical_without_the_file(tiny_demo, tmp_path):
    """The starting weights count once: a resumed run takes its checkpoint even after the file
    is gone, and ends with the bits of the uninterrupted run."""
    source = gluoncv_file(tmp_path / "start.params")
    args = ("--num-epochs", "2", "--save-frequency", "1", "--lr-mult-body", "0.1",
            "--pretrained", source)
    run = tmp_path / "run"
    assert train(tiny_demo, run, *args).returncode == 0
    straight = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    shutil.rmtree(run / "checkpoints" / "epoch-0002")
    shutil.rmtree(run / "checkpoints" / "best")
    os.unlink(source)
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "starting from" not in proc.stdout and "resumed from" in proc.stdout
    resumed = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    assert straight.keys() == resumed.keys()
    assert all(np.array_equal(straight[k], resumed[k]) for k in straight)
