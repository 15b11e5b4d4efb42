"""``gluon-tricks export``: a trained network as an MXNet symbol + params pair and an ONNX file.

The symbol pair (``net.export``) loads back with ``mx.gluon.SymbolBlock.imports`` or the C++
predict API; the ONNX file comes from MXNet 1.9.1's own converter, ``mx.onnx.export_model``.
"""
import os

import mxnet as mx
import numpy as np

from .. import outputs
from ..errors import UsageError
from ..models import list_models
from ..weights import checked_input_size, load_model

NAME = "export"
HELP = ("write PREFIX-symbol.json + PREFIX-0000.params (MXNet) and PREFIX.onnx from a GluonCV zoo "
        ".params file, a checkpoint or a run folder")

# MXNet 1.9.1 ships ONNX translations for opsets 12 and 13 only, yet stamps the model with the
# newest opset of the installed onnx package; the files are marked with the opset they follow.
ONNX_OPSET = 13
ONNX_REQUIREMENT = "onnx>=1.13,<1.19"
OUT_SUFFIXES = ("-symbol.json", "-0000.params", ".onnx")


def configure(p):
    p.add_argument("--model", required=True, metavar="NAME",
                   help="network name: %s" % ", ".join(list_models()))
    p.add_argument("--params", required=True, metavar="PATH",
                   help="a .params file (GluonCV zoo or a checkpoint's model.params), a checkpoint "
                        "directory, or a run folder (its newest epoch checkpoint)")
    p.add_argument("--out", required=True, metavar="PREFIX",
                   help="output prefix: writes PREFIX-symbol.json, PREFIX-0000.params, PREFIX.onnx")
    p.add_argument("--input-size", type=int, default=0, metavar="S",
                   help="input side (default 299 for inceptionv3, else 224); the batch axis of "
                        "the ONNX input stays dynamic")
    p.add_argument("--classes", type=int, default=0, metavar="K",
                   help="output classes (default: the rows of the file's classifier weight)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing PREFIX files (refused otherwise)")


def export_symbol(net, prefix, input_size):
    """Hybridize ``net``, trace it on one (1, 3, S, S) input and write the symbol + params pair.

    Returns (symbol file, params file).
    """
    net.hybridize()
    net(mx.nd.zeros((1, 3, input_size, input_size)))
    net.export(prefix, epoch=0)
    return prefix + "-symbol.json", prefix + "-0000.params"


def export_onnx(symbol_file, params_file, onnx_file, input_size):
    """Convert the symbol + params pair with ``mx.onnx.export_model`` (input ``data``, dynamic
    batch axis), then mark it with the opset its operators follow and check it."""
    try:
        import onnx
        from mxnet.onnx import export_model
        from onnx import helper
        export_model(symbol_file, params_file, in_shapes=[(1, 3, input_size, input_size)],
                             in_types=[np.float32], onnx_file_path=onnx_file, dynamic=True,
                             dynamic_input_shapes=[(None, 3, input_size, input_size)])
    except ImportError as err:
        raise UsageError("ONNX export needs the onnx package that MXNet 1.9.1's converter works "
                         "with (%s); install it with pip install '%s'"
                         % (err, ONNX_REQUIREMENT)) from None
    model = onnx.load(onnx_file)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", ONNX_OPSET))
    model.ir_version = helper.find_min_ir_version_for(model.opset_import)
    _drop_initializer_inputs(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, onnx_file)
    return onnx_file


def _drop_initializer_inputs(graph):
    """Keep only real inputs in ``graph.input``: MXNet lists every weight there too, which makes
    runtimes treat the weights as overridable and skip constant folding."""
    weights = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)


def run(args):
    size = checked_input_size(args.model, args.classes, args.input_size)
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UsageError("--out %s: folder %s does not exist; create it first" % (args.out, folder))
    files = [args.out + suffix for suffix in OUT_SUFFIXES]
    outputs.check_files(files, "--out", args.overwrite)
    loaded = load_model(args.model, args.params, classes=args.classes or None)
    with outputs.removed_if_failed(folder, files):
        symbol_file, params_file = export_symbol(loaded.net, args.out, size)
        onnx_file = export_onnx(symbol_file, params_file, args.out + ".onnx", size)
    print("exported %s (%d classes, input data: N×3×%d×%d float32) from %s:"
          % (args.model, loaded.classes, size, size, loaded.path))
    for path in (symbol_file, params_file, onnx_file):
        print("  %s" % path)
    return 0
