"""``gluon-tricks zoo-check`` on a zoo-named file written by GluonCV, scored against GluonCV itself;
an unreadable zoo file is reported without stopping the others."""
import os

import mxnet as mx
import numpy as np
import pytest

from cli import one_line_error, run_cli
from gluon_tricks.datasets.demo import make_demo_data
from gluon_tricks.data.recorditer import val_iter
from gluon_tricks.zoo import PUBLISHED, find_zoo_files, zoo_model

ZOO_FILE = "mobilenet0.25-deadbeef.params"
BROKEN = "resnet18_v1-00000000.params"


@pytest.fixture(scope="module")
def val_set(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("zoo-demo"))
    paths = make_demo_data(out, train_per_class=1, val_per_class=3, threads=2, progress=False)
    return paths["val_rec"], paths["val_idx"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, val_set):
    """GluonCV's mobilenet0.25 for 10 classes with random weights, saved under a zoo name beside
    files zoo-check must ignore. A random deep net gives every image nearly the same logits, so
    the classifier is centred and scaled on the validation images to make predictions vary."""
    from gluoncv.model_zoo import get_model
    folder = tmp_path_factory.mktemp("models")
    mx.random.seed(3)
    net = get_model("mobilenet0.25", classes=10)
    net.initialize(mx.init.MSRAPrelu(factor_type="in"))
    images = next(iter(val_iter(*val_set, 30, 224))).data[0]
    net.output.bias.set_data(-net(images).mean(axis=0))
    for param in (net.output.weight, net.output.bias):
        param.set_data(param.data() * 100)
    net.save_parameters(str(folder / ZOO_FILE))
    (folder / "notes.txt").write_text("not a zoo file")
    (folder / "alexnet-0123abcd.params").write_bytes(b"not one of our models")
    (folder / BROKEN).write_bytes(b"truncated download")
    return folder


def gluoncv_scores(params, rec, idx):
    """Top-1/top-5 (%) of GluonCV's own network on the same validation batches."""
    from gluoncv.model_zoo import get_model
    net = get_model("mobilenet0.25", classes=10)
    net.load_parameters(str(params))
    batches = val_iter(rec, idx, 8, 224)
    ranked, labels = [], []
    for batch in batches:
        valid = batch.data[0].shape[0] - batch.pad
        ranked.append(np.argsort(-net(batch.data[0]).asnumpy(), axis=1)[:valid, :5])
        labels.append(batch.label[0].asnumpy()[:valid].astype(np.int64))
    ranked, labels = np.concatenate(ranked), np.concatenate(labels)
    assert len(set(ranked[:, 0])) > 1, "the test network predicts a single class"
    return (100 * np.mean(ranked[:, 0] == labels),
            100 * np.mean((ranked == labels[:, None]).any(axis=1)), len(labels))


def test_file_names_map_to_our_models(models_dir):
    assert zoo_model("resnet50_v1d-117a384e.params") == "resnet50_v1d"
    assert zoo_model("mobilenet1.0-efbb2ca3.params") == "mobilenet1.0"
    assert zoo_model("resnet50_v1d.params") is None
    assert zoo_model("alexnet-0123abcd.params") is None
    assert [m for m, _ in find_zoo_files(str(models_dir))] == ["mobilenet0.25", "resnet18_v1"]


def test_zoo_check_matches_gluoncv_and_lists_missing(models_dir, val_set):
    rec, idx = val_set
    proc = run_cli("zoo-check", "--models-dir", models_dir, "--rec", rec, "--batch-size", 8)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = [line.split() for line in proc.stdout.splitlines() if line.startswith("mobilenet0.25 ")]
    assert len(row) == 1, proc.stdout
    model, name, classes, images, top1, top5 = row[0][:6]
    assert (name, classes, images) == (ZOO_FILE, "10", "30")
    want1, want5, count = gluoncv_scores(models_dir / ZOO_FILE, rec, idx)
    assert count == 30
    assert (float(top1), float(top5)) == (round(want1, 2), round(want5, 2))
    lines = proc.stdout.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("missing: 8 published")]
    assert len(start) == 1, proc.stdout
    listed = [line.split()[:5] for line in lines[start[0] + 1:start[0] + 9]]
    assert listed == [[p.model, p.zoo_name, "%.2f" % p.top1, "/", "%.2f" % p.top5]
                      for p in PUBLISHED]
    assert "n/a" not in proc.stdout   # mobilenet0.25 has no published row to compare with
    failed = [line for line in lines if line.startswith("failed: " + BROKEN)]
    assert len(failed) == 1 and "not an MXNet .params file" in failed[0]


def test_empty_or_missing_folder_is_one_line_error(tmp_path, val_set):
    rec, _ = val_set
    (tmp_path / "readme.txt").write_text("no weights here")
    assert "no GluonCV zoo files" in one_line_error(
        run_cli("zoo-check", "--models-dir", tmp_path, "--rec", rec))
    assert "not a folder" in one_line_error(
        run_cli("zoo-check", "--models-dir", tmp_path / "absent", "--rec", rec))


def test_models_limits_what_is_scored_and_listed(models_dir, val_set):
    rec, _ = val_set
    proc = run_cli("zoo-check", "--models-dir", models_dir, "--rec", rec, "--batch-size", 8,
                   "--models", "mobilenet0.25,resnet50_v1d", "--limit-batches", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = [line.split()[0] for line in proc.stdout.splitlines()[2:] if line[:1].isalnum()]
    assert scored[0] == "mobilenet0.25" and "failed" not in proc.stdout
    assert "missing: 1 published model(s)" in proc.stdout and "ResNet50_v1d" in proc.stdout
    line = one_line_error(run_cli("zoo-check", "--models-dir", models_dir, "--rec", rec,
                                  "--models", "resnet51"))
    assert "unknown model 'resnet51'" in line


def test_download_goes_through_gluoncvs_model_store_and_fails_in_one_line_offline(tmp_path,
                                                                                  val_set):
    """This machine reaches package registries only, so GluonCV's store cannot fetch the file:
    one line names the model and how to place its file by hand, and nothing is left behind."""
    from gluoncv.model_zoo.model_store import short_hash
    rec, _ = val_set
    folder = tmp_path / "models"
    proc = run_cli("zoo-check", "--models-dir", folder, "--rec", rec, "--download",
                   "--models", "resnet18_v1,mobilenet0.25", env={"MXNET_HOME": str(tmp_path)})
    line = one_line_error(proc)
    name = "resnet18_v1-%s" % short_hash("resnet18_v1")
    assert "cannot download resnet18_v1 through GluonCV's model store" in line
    assert "unzip %s.params into %s" % (name, folder) in line and "%s.zip" % name in line
    assert os.listdir(folder) == [] and os.listdir(tmp_path) == ["models"]
    assert "fetching resnet18_v1 into" in proc.stdout and "mobilenet0.25" not in proc.stdout
