"""``gluon-tricks eval`` and ``weights``: GluonCV zoo files and our checkpoints load and score right."""
import json
import math
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from cli import one_line_error, run_cli
from gluon_tricks import checkpoint, weights
from gluon_tricks.errors import UsageError
from gluon_tricks.models import get_model, initialize

SIZE = 64
CLASSES = 10
# The paper's normalisation (§2.1), spelled out here so the reference does not reuse our code.
NORMALIZE = dict(mean_r=123.68, mean_g=116.779, mean_b=103.939,
                 std_r=58.393, std_g=57.12, std_b=57.375)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from gluon_tricks.datasets.demo import make_demo_data
    out = tmp_path_factory.mktemp("eval-demo")
    return make_demo_data(str(out), classes=CLASSES, train_per_class=4, val_per_class=6,
                          threads=2, progress=False)


def reference_batches(paths, batch_size):
    """The validation images as the paper prepares them, straight from ImageRecordIter."""
    return mx.io.ImageRecordIter(path_imgrec=paths["val_rec"], path_imgidx=paths["val_idx"],
                                 batch_size=batch_size, data_shape=(3, SIZE, SIZE),
                                 resize=int(math.ceil(SIZE / 0.875)), shuffle=False,
                                 preprocess_threads=1, verbose=False, **NORMALIZE)


@pytest.fixture(scope="module")
def zoo_file(demo, tmp_path_factory):
    """A randomly initialised GluonCV resnet18_v1 saved under a zoo-style name.

    Its classifier bias is set to −W·mean(features) over one batch, so that the random network
    predicts different classes for different images and the top-1 comparison means something.
    """
    import gluoncv
    mx.random.seed(3)
    net = gluoncv.model_zoo.get_model("resnet18_v1", classes=CLASSES)
    net.initialize(mx.init.Xavier())
    x = next(iter(reference_batches(demo, 20))).data[0]
    features = net.features(x).reshape((x.shape[0], -1))
    net.output.bias.set_data(-mx.nd.dot(net.output.weight.data(), features.mean(axis=0)))
    path = tmp_path_factory.mktemp("zoo") / "resnet18_v1-0123abcd.params"
    net.save_parameters(str(path))
    return path, net


def reference_hits(net, demo):
    """(top-1 hits, top-5 hits, images, predicted classes) of ``net`` run directly on the batches."""
    hits1 = hits5 = seen = 0
    predicted = []
    for batch in reference_batches(demo, 20):          # 60 images: three full batches
        ranked = mx.nd.topk(net(batch.data[0]), k=5, axis=1).asnumpy().astype(int)
        labels = batch.label[0].asnumpy().astype(int)
        hits1 += int((ranked[:, 0] == labels).sum())
        hits5 += int((ranked == labels[:, None]).any(axis=1).sum())
        seen += len(labels)
        predicted.extend(ranked[:, 0])
    return hits1, hits5, seen, predicted


def printed_hits(stdout):
    counts = {k: re.search(r"top-%s\s+[\d.]+%% \((\d+)/(\d+)\)" % k, stdout) for k in "15"}
    assert all(counts.values()), stdout
    return int(counts["1"].group(1)), int(counts["5"].group(1)), int(counts["1"].group(2))


def test_eval_of_a_gluoncv_zoo_file_matches_the_gluoncv_net(demo, zoo_file):
    path, net = zoo_file
    # Batch 16 leaves a padded last batch (60 = 3 × 16 + 12), which must not be counted.
    proc = run_cli("eval", "--model", "resnet18_v1", "--params", path, "--rec", demo["val_rec"],
                   "--input-size", SIZE, "--batch-size", 16, "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    hits1, hits5, images, predicted = reference_hits(net, demo)
    assert images == 60 and len(set(predicted)) > 2
    assert printed_hits(proc.stdout) == (hits1, hits5, images)
    assert "10 classes" in proc.stdout and "img/s" in proc.stdout


def test_a_run_folder_means_its_best_checkpoint_and_a_directory_its_model_params(demo, tmp_path):
    net = initialize(get_model("resnet18_v1b", classes=CLASSES))
    net(mx.nd.zeros((1, 3, SIZE, SIZE)))
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": 0.1},
                            update_on_kvstore=False)
    ckpts = tmp_path / "run" / "checkpoints"
    checkpoint.save(str(ckpts), 1, net, trainer, {}, name="best")
    for epoch in (1, 2):
        checkpoint.save(str(ckpts), epoch, net, trainer, {})
    best, newest = (str(ckpts / name / "model.params") for name in ("best", "epoch-0002"))
    assert weights.resolve_params(str(tmp_path / "run")) == best
    assert weights.resolve_params(str(ckpts)) == best
    assert weights.resolve_params(str(ckpts), checkpoint_name="latest") == newest
    assert weights.resolve_params(str(tmp_path / "run"), checkpoint_name="epoch-0002") == newest
    assert weights.resolve_params(str(ckpts / "epoch-0001")).endswith("epoch-0001/model.params")
    with pytest.raises(UsageError, match="no model.params"):
        weights.resolve_params(str(tmp_path))
    with pytest.raises(UsageError, match="choose one of best, epoch-0001, epoch-0002, latest"):
        weights.resolve_params(str(tmp_path / "run"), checkpoint_name="epoch-0003")

    loaded = weights.load_model("resnet18_v1b", str(tmp_path / "run"))
    assert loaded.classes == CLASSES and loaded.path == best
    x = mx.nd.random.normal(shape=(2, 3, SIZE, SIZE))
    np.testing.assert_array_equal(loaded.net(x).asnumpy(), net(x).asnumpy())

    net.cast("float16")                    # an FP16 run's checkpoint holds float16 weights
    net.save_parameters(str(tmp_path / "fp16.params"))
    loaded = weights.load_model("resnet18_v1b", str(tmp_path / "fp16.params"))
    assert loaded.net(x).dtype == np.float32

    proc = run_cli("eval", "--model", "resnet18_v1b", "--params", tmp_path / "run",
                   "--checkpoint", "latest", "--rec", demo["val_rec"], "--input-size", SIZE,
                   "--batch-size", 20, "-j", 1)
    assert proc.returncode == 0, proc.stderr
    assert newest in proc.stdout and printed_hits(proc.stdout)[2] == 60
    line = one_line_error(run_cli("eval", tmp_path / "run", "--checkpoint", "epoch-0009",
                                  "--model", "resnet18_v1b", "--rec", demo["val_rec"]))
    assert "epoch-0009" in line and "best, epoch-0001, epoch-0002, latest" in line


def test_eval_errors_are_one_line(demo, zoo_file, tmp_path):
    path, _ = zoo_file
    common = ("--rec", demo["val_rec"], "--input-size", SIZE)
    line = one_line_error(run_cli("eval", "--model", "resnet18_v1", "--params",
                                  tmp_path / "missing.params", *common))
    assert "missing.params not found" in line
    line = one_line_error(run_cli("eval", "--model", "resnet18_v1", "--params", path,
                                  "--rec", tmp_path / "missing.rec", "--input-size", SIZE))
    assert "missing.rec not found" in line
    line = one_line_error(run_cli("eval", "--model", "resnet18_v1b", "--params", path, *common))
    assert str(path) in line and "resnet18_v1b" in line and "--model" in line
    line = one_line_error(run_cli("eval", "--model", "resnet18_v1", "--params", path,
                                  "--classes", 5, *common))
    assert "--classes 5" in line and "10 output classes" in line


@pytest.mark.parametrize("args,needle", [
    (("--model", "resnet51"), "unknown model 'resnet51'"),
    (("--model", "inceptionv3", "--input-size", "224"), "input size 224 is too small for inceptionv3"),
    (("--model", "resnet18_v1", "--gpus", "0"), "asks for GPU 0 but MXNet sees 0 GPU(s)"),
])
def test_eval_rejects_bad_models_sizes_and_missing_gpus(args, needle, tmp_path):
    proc = run_cli("eval", "--params", tmp_path / "x.params", "--rec", tmp_path / "v.rec", *args)
    assert needle in one_line_error(proc)


def test_export_rejects_an_unknown_model(tmp_path):
    proc = run_cli("export", "--model", "resnet51", "--params", tmp_path / "x.params",
                   "--out", tmp_path / "m")
    assert "unknown model 'resnet51'" in one_line_error(proc)


def test_eval_of_a_run_folder_needs_only_the_folder(tiny_run, tiny_demo):
    """Network, classes, input size and validation records come from config.json; the weights
    from checkpoints/best, whose top-1 is the best epoch's validation top-1 during training."""
    proc = run_cli("eval", tiny_run, "--batch-size", 4, "-j", 1)
    assert proc.returncode == 0, proc.stderr
    assert "model   resnet18_v1b, 3 classes, 32×32 crop" in proc.stdout
    assert str(tiny_run / "checkpoints" / "best" / "model.params") in proc.stdout
    assert "%s: 24 images" % (tiny_demo / "val.rec") in proc.stdout
    events = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    best = max(e["top1"] for e in events if e["kind"] == "eval")
    assert printed_hits(proc.stdout)[0] == round(best * 24)

    proc = run_cli("eval", tiny_run, "--checkpoint", "epoch-0001", "--batch-size", 4, "-j", 1)
    assert proc.returncode == 0, proc.stderr
    first = [e["top1"] for e in events if e["kind"] == "eval" and e["epoch"] == 1][0]
    assert printed_hits(proc.stdout)[0] == round(first * 24)
    line = one_line_error(run_cli("eval", tiny_run, "--model", "resnet18_v1"))
    assert "--model resnet18_v1 does not match" in line and "resnet18_v1b" in line


def test_eval_of_a_zoo_named_file_needs_no_model_and_takes_gluoncv_flags(demo, zoo_file, tmp_path):
    """verify_pretrained.py's flag names: --params-file, --rec-dir, -j/--num-data-workers."""
    path, net = zoo_file
    proc = run_cli("eval", "--params-file", path, "--rec-dir", demo["val_rec"].rsplit("/", 1)[0],
                   "--input-size", SIZE, "--batch-size", 16, "--num-data-workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "model   resnet18_v1, 10 classes" in proc.stdout
    assert printed_hits(proc.stdout) == reference_hits(net, demo)[:3]

    plain = tmp_path / "weights.params"
    plain.write_bytes(path.read_bytes())
    common = ("--rec", demo["val_rec"], "--input-size", SIZE)
    assert "pass --model NAME" in one_line_error(run_cli("eval", plain, *common))
    line = one_line_error(run_cli("eval", path, "--model", "resnet18_v1b", *common))
    assert "its GluonCV zoo file name says resnet18_v1" in line
    assert "give the weights once" in one_line_error(run_cli("eval", path, "--params", path, *common))
    assert "GPU 0" in one_line_error(run_cli("eval", path, "--num-gpus", 1, *common))
    assert "--checkpoint" in one_line_error(run_cli("eval", path, "--checkpoint", "best", *common))
    # Abbreviations are not guessed: --check is not --checkpoint.
    assert "unrecognized arguments: --check" in one_line_error(
        run_cli("eval", path, "--check", "best", *common))
