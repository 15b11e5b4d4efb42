"""``gluon-tricks figures OUT_DIR``: the paper's Fig. 3a, 4a, 4b and Table 5 drawn by this project's code.

Fig. 3a and 4a are computed (lr schedules, the optimal logit gap); Fig. 4b needs two trained
models, e.g. one with label smoothing and one without, whose logits are taken on a validation
set; Table 5 counts parameters and MACs of ResNet-50 and its B/C/D tweaks from the traced graphs.
"""
import os

import numpy as np

from .. import atomic, checkpoint, outputs, plots
from ..data.recorditer import check_inputs, val_iter
from ..data import imagesize
from ..data.recordfile import check_decodable
from ..devices import usable_contexts
from ..errors import UsageError
from ..evaluate import batch_outputs
from ..flops import model_cost
from ..models import check_model, default_input_size
from ..weights import load_model, resolve_params
from . import arguments

NAME = "figures"
HELP = ("draw paper Fig. 3a, 4a, 4b (logit gaps of two checkpoints) and Table 5 as PNG files "
        "(and table5.md)")

# Paper Table 5 (§4.3): ImageNet, batch 1024, FP16. "FLOPs" there are multiply-accumulates.
TABLE5 = (("resnet50_v1", "ResNet-50", "25 M", "3.8 G", 76.21, 92.97),
          ("resnet50_v1b", "ResNet-50-B", "25 M", "4.1 G", 76.66, 93.28),
          ("resnet50_v1c", "ResNet-50-C", "25 M", "4.3 G", 76.87, 93.48),
          ("resnet50_v1d", "ResNet-50-D", "25 M", "4.3 G", 77.16, 93.52))
TABLE5_FILES = ("table5.png", "table5.md")
FIG_FILES = ("fig3a_lr_schedules.png", "fig4a_logit_gap.png")
FIG4B_FILE = "fig4b_logit_gaps.png"
TABLE5_HEADER = ("model", "ours: params (M)", "ours: MACs (G)", "paper: #params", "paper: FLOPs",
                 "paper: top-1", "paper: top-5")


def configure(p):
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder for the PNG files and table5.md")
    g = p.add_argument_group("Fig. 4b (logit gaps of two trained models)")
    for which in ("a", "b"):
        g.add_argument("--checkpoint-%s" % which, metavar="DIR",
                       help="model %s: a checkpoint directory, a run folder (its newest epoch "
                            "checkpoint) or a .params file (then --model is needed)" % which.upper())
    arguments.add_records(g, "validation RecordIO file (default: the val.rec in checkpoint A's "
                             "config)", required=False)
    arguments.add_model(g, required=False,
                        help="network of both checkpoints (default: from each checkpoint's config)")
    arguments.add_scoring_batches(g, "use only the first N validation batches (0: all)")
    arguments.add_devices(p)
    arguments.add_threads(g)
    imagesize.add_argument(g)
    p.add_argument("--overwrite", action="store_true",
                   help="replace figures already in OUT_DIR (refused otherwise)")


def checkpoint_config(params_path):
    """The training config saved with the checkpoint that holds ``params_path``, or {} (a zoo file)."""
    folder = os.path.dirname(params_path)
    if not os.path.isfile(os.path.join(folder, checkpoint.STATE_FILE)):
        return {}
    return checkpoint.read_state(folder).get("config") or {}


def smoothing_label(config, fallback):
    """The legend label of a model: its label smoothing ε, "one-hot" without, or ``fallback``."""
    if "label_smoothing" not in config:
        return fallback
    eps = config["label_smoothing"]
    return "label smoothing ε=%g" % eps if eps else "one-hot"


def val_logits(net, batches, contexts, limit=0):
    """(N, K) float64 logits of ``net`` over the validation batches, padding dropped."""
    chunks = [np.concatenate([o.astype("float32").asnumpy() for o in outputs])[:valid]
              for outputs, _, valid in batch_outputs(net, batches, contexts, limit=limit)]
    return np.concatenate(chunks).astype(np.float64)


def load_checkpoint(path, model, flag):
    """(params path, config, model name) of a ``--checkpoint-*`` argument."""
    params = resolve_params(path, flag=flag)
    config = checkpoint_config(params)
    name = model or config.get("model")
    if not name:
        raise UsageError("%s has no training config naming its network; pass --model" % path)
    check_model(name)
    return params, config, name


def fig4b_inputs(args):
    """Check every Fig. 4b argument before anything is drawn: (models, rec, idx, contexts)."""
    arguments.check_scoring_batches(args)
    models = [load_checkpoint(getattr(args, "checkpoint_" + w), args.model, "--checkpoint-" + w)
              for w in ("a", "b")]
    rec = args.rec or models[0][1].get("rec_val")
    if not rec:
        raise UsageError("pass the validation set with --rec val.rec (checkpoint A's config names none)")
    rec, idx = arguments.record_paths(args, rec)
    contexts, _ = usable_contexts(args.devices)
    for params, config, name in models:
        size = config.get("input_size") or default_input_size(name)
        check_inputs(rec, idx, args.batch_size * len(contexts), size, args.threads)
    check_decodable(rec, idx, args.threads, args.max_image_pixels)
    return models, rec, idx, contexts


def fig4b(args, out_path, inputs):
    """Paper Fig. 4b from ``--checkpoint-a``/``-b`` (checked by :func:`fig4b_inputs`)."""
    models, rec, idx, contexts = inputs
    batch = args.batch_size * len(contexts)
    gaps, classes, eps = {}, None, None
    for which, (params, config, name) in zip("AB", models):
        size = config.get("input_size") or default_input_size(name)
        net, _, net_classes = load_model(name, params, ctx=contexts)
        net.hybridize(static_alloc=True, static_shape=True)
        logits = val_logits(net, val_iter(rec, idx, batch, size, threads=args.threads),
                            contexts, args.limit_batches)
        label = smoothing_label(config, "%s (%s)" % (name, os.path.basename(params)))
        gaps[label if label not in gaps else "%s (%s)" % (label, which)] = plots.logit_gaps(logits)
        classes = classes or net_classes
        if eps is None and config.get("label_smoothing"):
            eps = config["label_smoothing"]
    return plots.plot_gap_histograms(out_path, gaps, classes=classes, eps=eps)


def table5(out_dir):
    """table5.md and table5.png: our params/MACs of ResNet-50 v1/b/c/d at 224 px beside the
    paper's Table 5; returns both paths."""
    rows = []
    for model, paper_name, params, flops, top1, top5 in TABLE5:
        cost = model_cost(model, 224)
        rows.append(["%s (%s)" % (paper_name, model), "%.2f" % (cost.params / 1e6),
                     "%.2f" % (cost.macs / 1e9), params, flops, "%.2f" % top1, "%.2f" % top5])
    note = ("Ours: counted from the traced MXNet graphs at 224 px, 1000 classes. Paper: Table 5, "
            "ImageNet val; its FLOPs are multiply-accumulates.")
    md_path = os.path.join(out_dir, TABLE5_FILES[1])
    lines = ["# Paper Table 5: ResNet-50 and the B/C/D tweaks", "",
             "| " + " | ".join(TABLE5_HEADER) + " |", "|---" + "|---:" * (len(TABLE5_HEADER) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", note, ""]
    atomic.write_text(md_path, "\n".join(lines))
    png = plots.plot_table(os.path.join(out_dir, TABLE5_FILES[0]), TABLE5_HEADER, rows,
                           title="Paper Table 5: model tweaks, size and cost", note=note)
    return [png, md_path]


def run(args):
    given = [w for w in ("a", "b") if getattr(args, "checkpoint_" + w)]
    if len(given) == 1:
        raise UsageError("Fig. 4b compares two models: pass both --checkpoint-a and --checkpoint-b")
    inputs = fig4b_inputs(args) if given else None
    names = FIG_FILES + TABLE5_FILES + ((FIG4B_FILE,) if given else ())
    files = [os.path.join(args.out_dir, name) for name in names]
    outputs.check_files(files, "OUT_DIR", args.overwrite)
    with outputs.removed_if_failed(args.out_dir), \
            atomic.staging(args.out_dir, "figures") as stage:
        drawn = [plots.plot_lr_schedules(os.path.join(stage, FIG_FILES[0])),
                 plots.plot_logit_gap(os.path.join(stage, FIG_FILES[1]))]
        if given:
            drawn.append(fig4b(args, os.path.join(stage, FIG4B_FILE), inputs))
        drawn += table5(stage)
        written = [os.path.join(args.out_dir, os.path.basename(path)) for path in drawn]
        atomic.publish_all(list(zip(drawn, written)), replace=args.overwrite)
    for path in written:
        print("wrote %s" % path)
    if not given:
        print("skipped fig4b_logit_gaps.png: pass --checkpoint-a and --checkpoint-b (two trained "
              "models, e.g. with and without --label-smoothing) and --rec val.rec to draw it")
    return 0
