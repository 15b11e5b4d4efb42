"""``gluon-tricks export``: a trained network as an MXNet symbol + params pair and an ONNX file,
with what it needs to be used (mean/std, input size, class names) written beside and inside it.

The symbol pair loads back with ``mx.gluon.SymbolBlock.imports`` or the C++ predict API; the ONNX
file comes from MXNet 1.9.1's own converter, ``mx.onnx.export_model``. Plain exports take the
normalised N×3×S×S float32 tensor ``data`` and output ``logits``. ``--preprocess`` puts the
normalisation inside the graph, as GluonCV's ``export_block(preprocess=True)`` does: the input
``image`` is N×S×S×3 uint8 RGB (NHWC, the layout decoders give), already resized and
center-cropped (§2.1: shorter side to ceil(S/0.875), crop S), and the output is the softmax
``probabilities``.
"""
import json
import os

import mxnet as mx
import numpy as np

from .. import atomic, outputs
from ..data.augment import MEAN_RGB, STD_RGB
from ..data.recorditer import VAL_CROP_RATIO
from ..data.recordfile import companions
from ..errors import UsageError
from ..weights import load_model
from . import arguments

NAME = "export"
HELP = ("write PREFIX-symbol.json + PREFIX-0000.params (MXNet), PREFIX.onnx and "
        "PREFIX-metadata.json from a GluonCV zoo .params file, a checkpoint or a run folder")

# MXNet 1.9.1 ships ONNX translations for opsets 12 and 13 only, yet stamps the model with the
# newest opset of the installed onnx package; the files are marked with the opset they follow.
ONNX_OPSET = 13
ONNX_REQUIREMENT = "onnx>=1.13,<1.19"

# (input name, layout, dtype, output name) of a plain and a --preprocess export.
PLAIN = ("data", "NCHW", "float32", "logits")
PREPROCESSED = ("image", "NHWC", "uint8", "probabilities")
METADATA_FILE = "%s-metadata.json"
OUT_SUFFIXES = ("-symbol.json", "-0000.params", ".onnx", METADATA_FILE % "")


def configure(p):
    arguments.add_weights(p, size_help="input side; the ONNX input's batch axis stays dynamic")
    p.add_argument("--out", required=True, metavar="PREFIX",
                   help="output prefix: writes PREFIX-symbol.json, PREFIX-0000.params, "
                        "PREFIX.onnx and PREFIX-metadata.json")
    p.add_argument("--preprocess", action="store_true",
                   help="input 'image': N×S×S×3 uint8 RGB, resized and center-cropped, normalised "
                        "inside the graph; output 'probabilities' (softmax). Without it: input "
                        "'data' N×3×S×S float32 normalised, output 'logits'")
    p.add_argument("--class-names", metavar="FILE",
                   help="class names, one a line (default: the .classes file beside the run's "
                        "training records, when there is one)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing PREFIX files (refused otherwise)")


def graph(net, input_size, preprocess):
    """The export graph of ``net`` (deferred shapes settled on one S×S input) and the extra
    arrays it reads: the per-channel mean and std when ``preprocess``."""
    net(mx.nd.zeros((1, 3, input_size, input_size)))
    name, _, dtype, output = PREPROCESSED if preprocess else PLAIN
    x = mx.sym.var(name, dtype=dtype)
    extra = {}
    if preprocess:
        extra = {"preprocess_mean": mx.nd.array(MEAN_RGB).reshape((1, 1, 1, 3)),
                 "preprocess_std": mx.nd.array(STD_RGB).reshape((1, 1, 1, 3))}
        x = mx.sym.cast(x, dtype="float32")
        x = mx.sym.broadcast_div(mx.sym.broadcast_sub(x, mx.sym.var("preprocess_mean")),
                                 mx.sym.var("preprocess_std"))
        return mx.sym.softmax(net(mx.sym.transpose(x, axes=(0, 3, 1, 2))), axis=1,
                              name=output), extra
    return mx.sym.identity(net(x), name=output), extra


def export_symbol(net, prefix, input_size, preprocess=False):
    """Write ``net``'s graph (see :func:`graph`) as PREFIX-symbol.json and its parameters as
    PREFIX-0000.params, in ``HybridBlock.export``'s format. Returns (symbol file, params file)."""
    sym, arrays = graph(net, input_size, preprocess)
    args, aux = set(sym.list_arguments()), set(sym.list_auxiliary_states())
    for param in net.collect_params().values():
        if param.name in args or param.name in aux:
            # A plain copy: after a forward, oneDNN may hold conv weights in its own layout, and
            # mx.nd.save of such an array wrote other numbers (seen in about half of the trials).
            arrays[param.name] = mx.nd.array(param.data().asnumpy(), dtype=param.dtype)
    saved = {("arg:%s" if name in args else "aux:%s") % name: array
             for name, array in arrays.items()}
    symbol_file, params_file = prefix + "-symbol.json", prefix + "-0000.params"
    sym.save(symbol_file)
    mx.nd.save(params_file, saved)
    return symbol_file, params_file


def export_onnx(symbol_file, params_file, onnx_file, input_size, preprocess=False, metadata=None):
    """Convert the symbol + params pair with ``mx.onnx.export_model`` (dynamic batch axis), mark
    it with the opset its operators follow, store ``metadata`` (values as JSON text) in its
    ``metadata_props`` and check it."""
    _, layout, dtype, _ = PREPROCESSED if preprocess else PLAIN
    shape = (input_size, input_size, 3) if layout == "NHWC" else (3, input_size, input_size)
    try:
        import onnx
        from mxnet.onnx import export_model
        from onnx import helper
        export_model(symbol_file, params_file, in_shapes=[(1,) + shape],
                     in_types=[np.dtype(dtype)], onnx_file_path=onnx_file, dynamic=True,
                     dynamic_input_shapes=[(None,) + shape])
    except ImportError as err:
        raise UsageError("ONNX export needs the onnx package that MXNet 1.9.1's converter works "
                         "with (%s); install it with pip install '%s'"
                         % (err, ONNX_REQUIREMENT)) from None
    model = onnx.load(onnx_file)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", ONNX_OPSET))
    model.ir_version = helper.find_min_ir_version_for(model.opset_import)
    _drop_initializer_inputs(model.graph)
    helper.set_model_props(model, {key: json.dumps(value)
                                   for key, value in (metadata or {}).items()})
    onnx.checker.check_model(model)
    onnx.save(model, onnx_file)
    return onnx_file


def _drop_initializer_inputs(graph):
    """Keep only real inputs in ``graph.input`` and only used initializers: MXNet lists every
    weight as an input too, which makes runtimes treat the weights as overridable and skip
    constant folding, and leaves constants behind that no node reads (softmax's axes)."""
    used = {name for node in graph.node for name in node.input}
    initializers = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    weights = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights and value.name in used]
    del graph.input[:]
    graph.input.extend(inputs)


def read_class_names(path, classes):
    """The class names in ``path`` (one a line, as ``prepare`` writes ``.classes``); there must
    be ``classes`` of them."""
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as err:
        raise UsageError("cannot read class names from %s (%s)" % (path, err.strerror)) from None
    if len(names) != classes:
        raise UsageError("%s names %d classes but the network has %d; pass a file with one name "
                         "per class with --class-names" % (path, len(names), classes))
    return names


def class_names(args, config, classes):
    """Names from --class-names, else the .classes file beside the run's training records;
    None when neither exists."""
    path = args.class_names
    if not path and config and config.get("rec_train"):
        beside = companions(config["rec_train"])["classes"]
        path = beside if os.path.isfile(beside) else None
    return read_class_names(path, classes) if path else None


def metadata(model, classes, names, input_size, preprocess):
    """What a user of the exported files needs to feed them and read their output."""
    name, layout, dtype, output = PREPROCESSED if preprocess else PLAIN
    return {"model": model, "input": name, "input_layout": layout, "input_dtype": dtype,
            "input_size": input_size, "channel_order": "RGB",
            "resize": "shorter side to %d, center crop %d"
                      % (int(np.ceil(input_size / VAL_CROP_RATIO)), input_size),
            "mean": list(MEAN_RGB), "std": list(STD_RGB), "normalized_in_graph": preprocess,
            "output": output, "classes": classes, "class_names": names}


def run(args):
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UsageError("--out %s: folder %s does not exist; create it first" % (args.out, folder))
    files = [args.out + suffix for suffix in OUT_SUFFIXES]
    outputs.check_files(files, "--out", args.overwrite)
    source = arguments.weights_source(args)
    loaded = load_model(source.model, source.params, classes=source.classes)
    size = source.input_size
    info = metadata(source.model, loaded.classes, class_names(args, source.config, loaded.classes),
                    size, args.preprocess)
    with atomic.staging(folder, os.path.basename(args.out)) as stage:
        staged = os.path.join(stage, os.path.basename(args.out))
        symbol_file, params_file = export_symbol(loaded.net, staged, size, args.preprocess)
        export_onnx(symbol_file, params_file, staged + ".onnx", size, args.preprocess, info)
        atomic.write_text(METADATA_FILE % staged, json.dumps(info, indent=1) + "\n")
        atomic.publish_all([(staged + suffix, args.out + suffix) for suffix in OUT_SUFFIXES],
                           replace=args.overwrite)
    print("exported %s (%d classes, input %s: %s %s, output %s) from %s:"
          % (source.model, loaded.classes, info["input"],
             "×".join("N" if c == "N" else "3" if c == "C" else str(size)
                      for c in info["input_layout"]),
             info["input_dtype"], info["output"], loaded.path))
    for path in files:
        print("  %s" % path)
    return 0
