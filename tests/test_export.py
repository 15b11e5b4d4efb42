"""``gluon-tricks export``: the symbol pair and the ONNX file compute what the network computes."""
import mxnet as mx
import numpy as np
import onnx
import onnxruntime
import pytest

from cli import one_line_error, run_cli
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
