"""``gluon-tricks zoo-check``: score GluonCV zoo weight files with our networks and validation
pipeline, beside the accuracies GluonCV published for them."""
import os
import sys

from ..data import backends, imagesize
from ..data.recorditer import check_inputs
from ..data.recordfile import check_decodable
from ..devices import usable_contexts
from ..errors import UsageError, shown
from ..evaluate import evaluate
from ..models import check_model, default_input_size
from ..weights import load_model
from ..zoo import PUBLISHED, PUBLISHED_BY_MODEL, download_zoo_file, find_zoo_files
from . import arguments

NAME = "zoo-check"
HELP = ("evaluate every GluonCV zoo file ({model}-{sha1[:8]}.params) in a folder on val.rec with "
        "our networks and compare with the published top-1/top-5")

COLUMNS = ("model", "file", "classes", "images", "top-1", "top-5", "pub top-1", "pub top-5",
           "Δ top-1", "Δ top-5")


def configure(p):
    p.add_argument("--models-dir", required=True, metavar="DIR",
                   help="folder holding zoo files, e.g. ~/.mxnet/models")
    p.add_argument("--models", metavar="NAMES",
                   help="comma-separated models to check, e.g. resnet50_v1d,mobilenet1.0 "
                        "(default: every zoo file in the folder and every published model)")
    p.add_argument("--download", action="store_true",
                   help="first fetch the missing files of the published models (or of --models) "
                        "into --models-dir through GluonCV's model store")
    arguments.add_records(p, "validation RecordIO file")
    arguments.add_scoring_batches(p, "score only the first N batches per model (0: the whole set)")
    arguments.add_devices(p)
    arguments.add_threads(p)
    imagesize.add_argument(p)
    arguments.add_data_backend(p)


def score(model, path, rec, idx, batch, contexts, threads, limit, backend="rec"):
    """A table row (dict) for one zoo file: its class count, images scored and top-1/top-5 (%)."""
    net, _, classes = load_model(model, path, ctx=contexts)
    net.hybridize(static_alloc=True, static_shape=True)
    size = default_input_size(model)
    batches = backends.val_batches(backend, rec, idx, batch, size, threads, contexts)
    result = evaluate(net, batches, contexts, limit=limit)
    return {"model": model, "file": os.path.basename(path), "classes": classes,
            "size": size, "images": result["images"], "top1": 100 * result["top1"],
            "top5": 100 * result["top5"]}


def _cells(row):
    """The printed cells of a scored row; differences only for 1000-class (ImageNet) weights."""
    pub = PUBLISHED_BY_MODEL.get(row["model"])
    cells = [row["model"], row["file"], str(row["classes"]), str(row["images"]),
             "%.2f" % row["top1"], "%.2f" % row["top5"]]
    if pub is None:
        return cells + ["-"] * 4
    cells += ["%.2f" % pub.top1, "%.2f" % pub.top5]
    if row["classes"] != 1000:
        return cells + ["n/a"] * 2
    return cells + ["%+.2f" % (row["top1"] - pub.top1), "%+.2f" % (row["top5"] - pub.top5)]


def format_table(rows):
    """Left-aligned text columns with a header line."""
    widths = [max(len(r[i]) for r in [COLUMNS] + rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                     for r in [COLUMNS] + rows)


def chosen_models(names):
    """The models --models names (None: all), each one gluon-tricks builds."""
    if not names:
        return None
    models = [name.strip() for name in names.split(",") if name.strip()]
    if not models:
        raise UsageError("--models takes comma-separated model names, got %s" % shown(names, quoted=True))
    for model in models:
        check_model(model, flag="--models")
    return models


def download_missing(folder, models):
    """Fetch the zoo file of every model in ``models`` that ``folder`` lacks."""
    os.makedirs(folder, exist_ok=True)
    have = {model for model, _ in find_zoo_files(folder)}
    for model in models:
        if model not in have:
            print("fetching %s into %s through GluonCV's model store" % (model, folder),
                  flush=True)
            download_zoo_file(model, folder)


def run(args):
    folder = os.path.expanduser(args.models_dir)
    wanted = chosen_models(args.models)
    arguments.check_scoring_batches(args)
    contexts, devices = usable_contexts(args.devices)
    backends.check(args.data_backend, contexts)
    _, idx = arguments.record_paths(args)
    batch = args.batch_size * len(contexts)
    check_inputs(args.rec, idx, batch, default_input_size((wanted or ["resnet50_v1"])[0]),
                 args.threads)
    check_decodable(args.rec, idx, args.threads, args.max_image_pixels)
    if args.download:
        download_missing(folder, wanted or [p.model for p in PUBLISHED])
    if not os.path.isdir(folder):
        raise UsageError("--models-dir %s is not a folder; pass the folder holding the zoo's "
                         ".params files (e.g. ~/.mxnet/models), or add --download"
                         % args.models_dir)
    files = [(m, path) for m, path in find_zoo_files(folder) if not wanted or m in wanted]
    if not files:
        raise UsageError("no GluonCV zoo files%s in %s: expected names like "
                         "resnet50_v1d-117a384e.params ({model}-{sha1[:8]}.params for a model "
                         "that gluon-tricks flops --help lists); --download fetches them"
                         % (" of " + args.models if wanted else "", args.models_dir))

    rows, failures = [], []
    for model, path in files:
        print("scoring %s (%s) on %s ..." % (model, os.path.basename(path), devices),
              file=sys.stderr, flush=True)
        try:
            rows.append(score(model, path, args.rec, idx, batch, contexts, args.threads,
                              args.limit_batches, args.data_backend))
        except UsageError as err:
            failures.append("%s: %s" % (os.path.basename(path), err))
    if not rows:
        raise UsageError("none of the %d zoo file(s) in %s could be evaluated; %s"
                         % (len(files), args.models_dir, failures[0]))

    scope = "first %d batches of " % args.limit_batches if args.limit_batches else ""
    print("GluonCV zoo files in %s scored on %s%s through %s (accuracies in %%; input 224 px, "
          "299 for inceptionv3; Δ = measured − published)"
          % (args.models_dir, scope, args.rec, args.data_backend))
    print(format_table([_cells(r) for r in rows]))
    if any(r["classes"] != 1000 and r["model"] in PUBLISHED_BY_MODEL for r in rows):
        print("n/a: not a 1000-class ImageNet model, so the published numbers do not apply")
    have = {r["model"] for r in rows}
    missing = [p for p in PUBLISHED if p.model not in have and (not wanted or p.model in wanted)]
    if missing:
        print("missing: %d published model(s) without a scored file in %s:"
              % (len(missing), args.models_dir))
        width = max(len(p.model) for p in missing)
        for p in missing:
            print(("  %s  %-13s  %.2f / %.2f  %s"
                   % (p.model.ljust(width), p.zoo_name, p.top1, p.top5, p.note)).rstrip())
    for failure in failures:
        print("failed: " + failure)
    return 0
