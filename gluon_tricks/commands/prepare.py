"""``gluon-tricks prepare folder|imagenet|places365``: pack images into MXNet RecordIO files."""
import os
import sys

from .. import options, outputs
from ..data import imagesize
from ..datasets import pack
from ..data.recordfile import output_paths

NAME = "prepare"
HELP = "pack an image folder, ImageNet or Places365 into MXNet .rec/.idx files"


def add_encode_options(parser):
    """Options shared by every source: how images are stored and in which order."""
    group = parser.add_argument_group("encoding")
    group.add_argument("--resize", type=int, default=0, metavar="N",
                       help="resize the shorter side to N pixels keeping the aspect (0 = keep, default)")
    group.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality (default 95)")
    group.add_argument("--pass-through", action="store_true",
                       help="store the original file bytes unchanged (only checked to decode)")
    options.unobservable(
        group.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="N",
                           help="decode/encode threads (default: all cores)"),
        "speed only: the records are the same bytes in the same order with any thread count")
    group.add_argument("--shuffle", dest="shuffle", action="store_true", default=True,
                       help="shuffle the training records with --seed (default)")
    group.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                       help="keep the sorted file order")
    group.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    imagesize.add_argument(group)
    group.add_argument("--overwrite", action="store_true",
                       help="replace existing output files (refused otherwise)")


def add_dataset_output(parser, run):
    """``--out DIR`` (OUT/train.* and OUT/val.*), the encoding options and the source's runner."""
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_encode_options(parser)
    parser.set_defaults(prepare_run=run)


def configure(parser):
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(parser))
    sources.required = True

    folder = sources.add_parser("folder", help="a class-per-subfolder tree",
                                description="Pack SRC/<class>/<image> into OUT_PREFIX.rec/.idx/.lst/"
                                            ".classes; labels follow the sorted class names.")
    folder.add_argument("src", metavar="SRC", help="folder with one subfolder per class")
    folder.add_argument("out_prefix", metavar="OUT_PREFIX", help="output path without extension")
    add_encode_options(folder)
    folder.set_defaults(prepare_run=run_folder)

    imagenet = sources.add_parser("imagenet", help="ILSVRC2012 train + val (GluonCV label order)",
                                  description="Write OUT/train.* and OUT/val.* with labels in sorted "
                                              "synset order, as GluonCV's pretrained models expect.")
    imagenet.add_argument("--train", required=True, metavar="DIR",
                          help="train folder (one folder per synset)")
    imagenet.add_argument("--val", required=True, metavar="DIR", help="val folder: flat or per synset")
    imagenet.add_argument("--val-labels", metavar="FILE",
                          help="labels for a flat val folder: LOC_val_solution.csv or "
                               "'filename synset' lines")
    add_dataset_output(imagenet, run_imagenet)

    places = sources.add_parser("places365", help="Places365-Standard from its official list files",
                                description="Read places365_train_standard.txt / places365_val.txt "
                                            "under ROOT and write OUT/train.* and OUT/val.*.")
    places.add_argument("--root", required=True, metavar="DIR",
                        help="folder with the list files and data_256/ (or train_256/) and val_256/")
    add_dataset_output(places, run_places365)


def encode_options(args):
    return pack.EncodeOptions(resize=args.resize, quality=args.quality, pass_through=args.pass_through,
                                 threads=args.threads, shuffle=args.shuffle, seed=args.seed,
                                 max_pixels=args.max_image_pixels, overwrite=args.overwrite)


def claim_outputs(prefixes, flag, overwrite):
    """Refuse before any work if an output exists or cannot be written (see gluon_tricks.outputs)."""
    outputs.check_files([path for prefix in prefixes for path in output_paths(prefix).values()],
                        flag, overwrite)


def print_results(results, warning=None):
    for result in results:
        print("\n".join(result.summary_lines()))
        if len(result.classes) == 1:
            print("note: %s holds one class; training needs at least two, so pack a folder with "
                  "two or more class subfolders" % result.rec_path, file=sys.stderr)
    if warning:
        print("WARNING: the image counts did not match the official release (see the warning above)")


def run_folder(args):
    prefix = pack.strip_record_extension(args.out_prefix)
    claim_outputs([prefix], "OUT_PREFIX", args.overwrite)
    with outputs.removed_if_failed(os.path.dirname(os.path.abspath(prefix))):
        print_results([pack.prepare_folder(args.src, prefix, encode_options(args))])
    return 0


def run_imagenet(args):
    claim_outputs([os.path.join(args.out, split) for split in ("train", "val")], "--out",
                  args.overwrite)
    with outputs.removed_if_failed(args.out):
        results, warning = pack.prepare_imagenet(args.train, args.val, args.out,
                                                    args.val_labels, encode_options(args))
    print_results(results, warning)
    return 0


def run_places365(args):
    claim_outputs([os.path.join(args.out, split) for split in ("train", "val")], "--out",
                  args.overwrite)
    with outputs.removed_if_failed(args.out):
        results, warning = pack.prepare_places365(args.root, args.out, encode_options(args))
    print_results(results, warning)
    return 0


def run(args):
    return args.prepare_run(args)
