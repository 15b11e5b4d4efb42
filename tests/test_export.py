"""``gluon-tricks export``: the symbol pair and the ONNX file compute what the network computes."""
import json
import re

import mxnet as mx
import numpy as np
import onnx
import onnxruntime
import pytest

from cli import one_line_error, run_cli
from gluon_tricks import weights
from gluon_tricks.models import get_model, initialize

SIZE = 64
CLASSES = 10


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """resnet18_v1b (random weights) saved as .params and exported by the CLI."""
    tmp = tmp_path_factory.mktemp("export")
    mx.random.seed(5)
    net = initialize(get_model("resnet18_v1b", classes=CLASSES))
    net(mx.nd.zeros((1, 3, SIZE, SIZE)))
    net.save_parameters(str(tmp / "model.params"))
    proc = run_cli("export", "--model", "resnet18_v1b", "--params", tmp / "model.params",
                   "--out", tmp / "r18", "--input-size", SIZE)
    assert proc.returncode == 0, proc.stderr
    return net, tmp / "r18", proc.stdout


def test_export_writes_three_files(exported):
    _, prefix, stdout = exported
    for suffix in ("-symbol.json", "-0000.params", ".onnx"):
        assert str(prefix) + suffix in stdout
    assert "10 classes" in stdout


@pytest.mark.filterwarnings("ignore:Cannot decide type")   # SymbolBlock.imports on an untyped input
def test_symbol_pair_reloads_with_the_same_outputs(exported):
    net, prefix, _ = exported
    block = mx.gluon.SymbolBlock.imports(str(prefix) + "-symbol.json", ["data"],
                                         str(prefix) + "-0000.params")
    x = mx.nd.random.normal(shape=(3, 3, SIZE, SIZE))
    np.testing.assert_allclose(block(x).asnumpy(), net(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_onnx_file_is_valid_and_runs_like_the_network(exported):
    net, prefix, _ = exported
    model = onnx.load(str(prefix) + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    assert [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")] == [13]
    assert [i.name for i in model.graph.input] == ["data"]

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(prefix) + ".onnx", options,
                                           providers=["CPUExecutionProvider"])
    x = mx.nd.random.normal(shape=(3, 3, SIZE, SIZE))   # batch 3: the batch axis is dynamic
    expected = net(x).asnumpy()
    (got,) = session.run(None, {"data": x.asnumpy()})
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)


def test_export_errors_are_one_line(exported, tmp_path):
    _, prefix, _ = exported
    params = prefix.parent / "model.params"
    line = one_line_error(run_cli("export", "--model", "resnet18_v1b", "--params",
                                  tmp_path / "missing.params", "--out", tmp_path / "x"))
    assert "missing.params not found" in line
    line = one_line_error(run_cli("export", "--model", "resnet18_v1b", "--params", params,
                                  "--out", tmp_path / "no" / "such" / "x"))
    assert "does not exist" in line
    line = one_line_error(run_cli("export", "--model", "resnet18_v1b", "--params", params,
                                  "--out", tmp_path / "x", "--input-size", 16))
    assert "--input-size" in line


def onnx_session(path):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_plain_export_names_its_output_and_carries_metadata(exported):
    _, prefix, _ = exported
    model = onnx.load(str(prefix) + ".onnx")
    assert [o.name for o in model.graph.output] == ["logits"]
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props == json.loads((prefix.parent / "r18-metadata.json").read_text())
    assert props["input"] == "data" and props["input_layout"] == "NCHW"
    assert props["normalized_in_graph"] is False and props["class_names"] is None


def raw_val_images(data_dir, size=32):
    """The validation images resized and center-cropped (§2.1) but not normalised, as uint8
    N×S×S×3 RGB: what a deployment feeds a --preprocess export; and their labels."""
    batches = mx.io.ImageRecordIter(path_imgrec=str(data_dir / "val.rec"), batch_size=24,
                                    data_shape=(3, size, size), resize=int(np.ceil(size / 0.875)),
                                    shuffle=False, preprocess_threads=1, verbose=False)
    batch = next(iter(batches))
    pixels = batch.data[0].asnumpy()
    assert np.array_equal(pixels, np.round(pixels)) and pixels.max() > 1
    return pixels.transpose(0, 2, 3, 1).astype(np.uint8), batch.label[0].asnumpy().astype(int)


def test_preprocessed_onnx_takes_raw_uint8_images_and_agrees_with_eval(tiny_run, tiny_demo, tmp_path):
    proc = run_cli("export", tiny_run, "--preprocess", "--out", tmp_path / "tiny")
    assert proc.returncode == 0, proc.stderr
    assert "input image: N×32×32×3 uint8, output probabilities" in proc.stdout
    model = onnx.load(str(tmp_path / "tiny.onnx"))
    onnx.checker.check_model(model, full_check=True)
    (image,) = model.graph.input
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in image.type.tensor_type.shape.dim][1:] == [32, 32, 3]
    assert [o.name for o in model.graph.output] == ["probabilities"]

    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props == json.loads((tmp_path / "tiny-metadata.json").read_text())
    assert props["mean"] == [123.68, 116.779, 103.939] and props["std"] == [58.393, 57.12, 57.375]
    assert props["input_size"] == 32 and props["input_layout"] == "NHWC"
    names = (tiny_demo / "train.classes").read_text().split()
    assert props["class_names"] == names and len(names) == 3 == props["classes"]

    images, labels = raw_val_images(tiny_demo)
    (probabilities,) = onnx_session(tmp_path / "tiny.onnx").run(None, {"image": images})
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    net = weights.load_model("resnet18_v1b", str(tiny_run)).net     # checkpoints/best
    normalised = (images.astype(np.float32) - props["mean"]) / props["std"]
    expected = mx.nd.softmax(net(mx.nd.array(normalised.transpose(0, 3, 1, 2)))).asnumpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-5)

    proc = run_cli("eval", tiny_run, "--batch-size", 8, "-j", 1)
    assert proc.returncode == 0, proc.stderr
    hits = int(re.search(r"top-1\s+[\d.]+% \((\d+)/24\)", proc.stdout).group(1))
    assert int((probabilities.argmax(axis=1) == labels).sum()) == hits


@pytest.mark.filterwarnings("ignore:Cannot decide type")   # SymbolBlock.imports on an untyped input
def test_preprocessed_symbol_pair_reloads_in_mxnet(tiny_run, tmp_path):
    proc = run_cli("export", "--params", tiny_run, "--checkpoint", "epoch-0002", "--preprocess",
                   "--out", tmp_path / "e2")
    assert proc.returncode == 0, proc.stderr
    block = mx.gluon.SymbolBlock.imports(str(tmp_path / "e2-symbol.json"), ["image"],
                                         str(tmp_path / "e2-0000.params"))
    images = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    (got,) = onnx_session(tmp_path / "e2.onnx").run(None, {"image": images})
    np.testing.assert_allclose(block(mx.nd.array(images, dtype="uint8")).asnumpy(), got,
                               rtol=1e-4, atol=1e-6)


def test_export_class_names_must_fit(tiny_run, tmp_path):
    (tmp_path / "two.txt").write_text("cat\ndog\n")
    line = one_line_error(run_cli("export", tiny_run, "--class-names", tmp_path / "two.txt",
                                  "--out", tmp_path / "x"))
    assert "names 2 classes but the network has 3" in line
