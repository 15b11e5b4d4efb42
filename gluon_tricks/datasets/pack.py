"""Pack image folders into MXNet RecordIO (.rec/.idx/.lst/.classes) readable by ImageRecordIter.

Decoding, resizing and encoding (see codec) run in a thread pool (libjpeg-turbo and OpenCV
release the GIL); one writer stores the results in list order, so the output only depends on
the inputs and the seed.
"""
import collections
import functools
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List

import mxnet as mx
from tqdm import tqdm

from .. import atomic
from ..errors import UsageError
from ..options import MAX_PARALLEL
from ..data import codec, imagesize, recordfile, rooted

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}

Item = collections.namedtuple("Item", ["label", "path", "relpath"])


class SkipImage(Exception):
    """An input file that cannot be packed; the message says why."""


@dataclass
class EncodeOptions:
    """How each image is stored: shorter side resized to ``resize`` (0 = keep), JPEG quality,
    or the original bytes unchanged (``pass_through``); images declaring more than
    ``max_pixels`` pixels are skipped undecoded; ``overwrite`` lets the outputs replace files
    that were there when the command started (it checked them then)."""

    resize: int = 0
    quality: int = 95
    pass_through: bool = False
    max_pixels: int = imagesize.MAX_PIXELS
    threads: int = os.cpu_count() or 1
    shuffle: bool = True
    seed: int = 0
    progress: bool = True
    overwrite: bool = False

    def validate(self):
        """Raise UsageError for option values that cannot work together."""
        if self.resize < 0:
            raise UsageError("--resize must be >= 0 (0 keeps the original size), got %d" % self.resize)
        if self.resize ** 2 > self.max_pixels:
            raise UsageError("--resize %d makes images of at least %d×%d pixels, more than "
                             "--max-image-pixels %d" % (self.resize, self.resize, self.resize,
                                                        self.max_pixels))
        if not 1 <= self.quality <= 100:
            raise UsageError("--quality must be between 1 and 100, got %d" % self.quality)
        if self.pass_through and self.resize:
            raise UsageError("--pass-through stores the original bytes, so it cannot be combined "
                             "with --resize; drop one of them")
        check_threads(self.threads)


def check_threads(threads):
    """UsageError unless 1 ≤ ``threads`` ≤ MAX_PARALLEL (each thread keeps a few images ahead
    of the writer in memory: a huge count would hold the whole data set)."""
    if not 1 <= threads <= MAX_PARALLEL:
        raise UsageError("--threads must be between 1 and %d, got %d" % (MAX_PARALLEL, threads))


@dataclass
class PackResult:
    """What one pack wrote: counts per label, bytes, the files it skipped with reasons, and the
    files packed although libjpeg warned about their data (e.g. corrupt bytes) with the warning."""

    rec_path: str
    classes: List[str]
    counts: collections.Counter
    bytes: int
    seconds: float
    skipped: list = field(default_factory=list)
    warned: list = field(default_factory=list)

    @property
    def images(self):
        """Number of records written."""
        return sum(self.counts.values())

    def summary_lines(self):
        """Human-readable summary: totals first, then every skipped file with its reason."""
        lines = ["packed %d images of %d classes into %s (%.1f MB, %.1f s)"
                 % (self.images, len(self.classes) or len(self.counts), self.rec_path,
                    self.bytes / 1e6, self.seconds)]
        empty = [name for label, name in enumerate(self.classes) if not self.counts[label]]
        if empty:
            lines.append("classes with no images: %s" % ", ".join(empty))
        if self.skipped:
            lines.append("skipped %d files:" % len(self.skipped))
            lines.extend("  %s: %s" % (path, reason) for path, reason in self.skipped)
        else:
            lines.append("skipped 0 files")
        if self.warned:
            lines.append("packed %d files the decoder warned about (check them):" % len(self.warned))
            lines.extend("  %s: %s" % (path, warning) for path, warning in self.warned)
        return lines


def is_image_name(name):
    """Whether a file name has an image extension OpenCV can decode."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_class_folder(src, classes=None):
    """Items of a class-per-subfolder tree, plus the files skipped while listing.

    Labels follow ``classes`` when given (a subfolder not in it is a UsageError), otherwise the
    sorted subfolder names. Files are found recursively inside each class folder.
    """
    if not os.path.isdir(src):
        raise UsageError("%s is not a directory; pass the folder that holds one subfolder per class" % src)
    folders = sorted(entry.name for entry in os.scandir(src) if entry.is_dir())
    if not folders:
        raise UsageError("%s has no class subfolders; put each class's images in SRC/<class>/" % src)
    if classes is None:
        classes = folders
    label_of = {name: label for label, name in enumerate(classes)}
    unknown = [name for name in folders if name not in label_of]
    if unknown:
        raise UsageError("%s has class folder(s) not among the %d training classes: %s; "
                         "check that both folders come from the same data set"
                         % (src, len(classes), ", ".join(unknown[:5])))
    items, skipped = [], []
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        if entry.is_file():
            skipped.append((entry.path, "not inside a class folder"))
    for name in folders:
        for root, dirs, files in os.walk(os.path.join(src, name)):
            dirs.sort()
            for filename in sorted(files):
                path = os.path.join(root, filename)
                if is_image_name(filename):
                    items.append(Item(label_of[name], path, os.path.relpath(path, src)))
                else:
                    extension = os.path.splitext(filename)[1] or "no extension"
                    skipped.append((path, "not an image file name (%s)" % extension))
    return classes, items, skipped


def read_bytes(path):
    """The file's bytes, or SkipImage when it cannot be read or is empty."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise SkipImage("cannot read: %s" % (err.strerror or err)) from None
    if not data:
        raise SkipImage("empty file")
    return data


# Scaled-down decoded images keep at least 1.5 times the output size, so the final INTER_AREA
# still averages 1.5 or more pixels per output pixel along each axis. Against a full-size
# decode + INTER_AREA, the stored images then stay within 1 dB PSNR (median 0.04 dB) of what a
# full-size decode stored (tests/test_prepare.py); a margin of 1 was up to 1.5 dB worse and
# no faster, a margin of 2 slower (benchmarks/README.md).
AREA_MARGIN = 1.5


def encode_image(path, options):
    """(bytes to store, decoder warning or None) for one image file; SkipImage if it cannot be packed.

    A JPEG at least 2 × AREA_MARGIN times the output size is decoded directly at 1/2, 1/4 or 1/8
    scale (chosen from its header), then area-averaged to the size computed from its full size.
    """
    data = read_bytes(path)
    try:
        if options.pass_through:
            return data, codec.decode(data, 1, 1, strict=False, max_pixels=options.max_pixels)[1]
        size = codec.jpeg_size(data)   # known before decoding for JPEGs only
        target = codec.shorter_side_size(*size, options.resize) if size and options.resize else (0, 0)
        image, warning = codec.decode(data, min_height=round(AREA_MARGIN * target[1]),
                                      min_width=round(AREA_MARGIN * target[0]), strict=False,
                                      max_pixels=options.max_pixels)
        if options.resize:
            image = codec.resize(image, codec.shorter_side_size(*(size or image.shape[:2]),
                                                                options.resize))
    except codec.DecodeError as err:
        raise SkipImage(str(err)) from None
    return codec.encode_jpeg(image, options.quality), warning


def ordered_map(function, items, threads, window=None):
    """Like ``map`` but on a thread pool, yielding results in input order with bounded lookahead."""
    window = window or 4 * threads
    pending = collections.deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _encode_or_skip(options, item):
    """(item, (bytes to store, warning)) or (item, SkipImage) so one bad file never stops the pool."""
    try:
        return item, encode_image(item.path, options)
    except SkipImage as skip:
        return item, skip


def pack(items, prefix, classes, options, skipped=(), desc=None):
    """Encode ``items`` into ``prefix``.rec/.idx/.lst (+ .classes when ``classes`` names are given).

    Files appear under their final names only once everything is written. Record keys and
    header ids are 0..n-1 in write order; labels are stored as floats (IRHeader flag 0); id2
    holds the payload's checksum (recordfile.payload_checksum).
    """
    options.validate()
    start = time.time()
    paths = recordfile.output_paths(prefix)
    outputs = [paths["rec"], paths["idx"], paths["lst"]] + ([paths["classes"]] if classes else [])
    skipped, warned = list(skipped), []
    counts = collections.Counter()
    written = 0
    encode = functools.partial(_encode_or_skip, options)
    leftovers = atomic.leftovers(paths["rec"])
    if leftovers:
        warn("note: files left by an interrupted earlier run (delete them unless another prepare "
             "is writing them): %s" % " ".join(leftovers))
    with recordfile.atomic_outputs(outputs, options.overwrite) as temps:
        record = mx.recordio.MXIndexedRecordIO(temps[1], temps[0], "w")
        try:
            with open(temps[2], "w", encoding="utf-8") as lst, \
                    tqdm(total=len(items), desc=desc or os.path.basename(prefix), unit="img",
                         file=sys.stderr, disable=not options.progress, mininterval=1.0) as bar:
                for item, outcome in ordered_map(encode, items, options.threads):
                    bar.update()
                    if isinstance(outcome, SkipImage):
                        skipped.append((item.path, str(outcome)))
                        continue
                    payload, warning = outcome
                    if warning:
                        warned.append((item.path, warning))
                    header = mx.recordio.IRHeader(0, float(item.label), written,
                                                  recordfile.payload_checksum(payload))
                    record.write_idx(written, mx.recordio.pack(header, payload))
                    lst.write("%d\t%f\t%s\n" % (written, item.label, item.relpath.replace(os.sep, "/")))
                    counts[item.label] += 1
                    written += 1
        finally:
            record.close()
        if not counts:
            raise UsageError("no readable images to pack into %s (%d files skipped, e.g. %s: %s)"
                             % (paths["rec"], len(skipped), *(skipped[0] if skipped else ("-", "-"))))
        if classes:
            with open(temps[3], "w", encoding="utf-8") as handle:
                handle.write("".join(name + "\n" for name in classes))
        size = os.path.getsize(temps[0])
    return PackResult(paths["rec"], list(classes or []), counts, size, time.time() - start, skipped,
                      warned)


def strip_record_extension(prefix):
    """Accept ``out/train.rec`` (or .idx/.lst) where a prefix ``out/train`` is meant."""
    root, ext = os.path.splitext(prefix)
    return root if ext in (".rec", ".idx", ".lst") else prefix


def shuffled(items, options):
    """``items`` in a seeded random order when shuffling is on, else unchanged."""
    items = list(items)
    if options.shuffle:
        random.Random(options.seed).shuffle(items)
    return items


def prepare_folder(src, out_prefix, options=None):
    """Pack a class-per-subfolder tree into ``out_prefix``.rec/.idx/.lst/.classes."""
    options = options or EncodeOptions()
    options.validate()
    classes, items, skipped = list_class_folder(src)
    if not items:
        raise UsageError("%s has class folders but no image files (%s); add images or fix the path"
                         % (src, ", ".join(classes[:5])))
    return pack(shuffled(items, options), strip_record_extension(out_prefix), classes, options, skipped)


def count_warning(title, checks, advice):
    """A loud multi-line WARNING for (what, found, expected) triples that differ, or None."""
    wrong = [(what, found, expected) for what, found, expected in checks if found != expected]
    if not wrong:
        return None
    lines = ["", "WARNING: %s" % title]
    lines += ["WARNING:   %s: found %s, expected %s" % (what, format(found, ","), format(expected, ","))
              for what, found, expected in wrong]
    lines += ["WARNING: %s" % line for line in advice]
    return "\n".join(lines + [""])


def warn(text):
    """Print a warning block to stderr (keeps stdout for the summary)."""
    if text:
        print(text, file=sys.stderr, flush=True)


IMAGENET_TRAIN, IMAGENET_VAL, IMAGENET_CLASSES = 1281167, 50000, 1000
MISLABEL_ADVICE = [
    "a mislabelled validation set is the classic cause of ~0% validation accuracy:",
    "check --val-labels and that the val synsets match the train folders. Proceeding anyway.",
]


def read_val_labels(path):
    """Map image name stem -> synset from LOC_val_solution.csv or a two-column 'file synset' list.

    The devkit's ILSVRC2012_validation_ground_truth.txt is refused: its 1-based ILSVRC ids are
    not in sorted-synset order, and guessing that mapping is exactly how val sets get mislabelled.
    """
    if not os.path.isfile(path):
        raise UsageError("--val-labels file %s not found" % path)
    labels = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    csv_format = bool(lines) and lines[0].startswith("ImageId")
    for number, line in enumerate(lines[1:] if csv_format else lines, 2 if csv_format else 1):
        if not line.strip():
            continue
        parts = line.split(",", 1) if csv_format else line.split()
        synset = parts[1].split()[0] if len(parts) > 1 and parts[1].split() else ""
        if len(parts) == 1 and parts[0].strip().isdigit():
            raise UsageError("%s looks like the devkit's ILSVRC2012_validation_ground_truth.txt "
                             "(one ILSVRC id per line), whose ids are not sorted-synset labels; use "
                             "LOC_val_solution.csv or a 'filename synset' file instead" % path)
        if not (synset.startswith("n") and synset[1:].isdigit()):
            raise UsageError("%s line %d: expected 'filename synset' (or the LOC_val_solution.csv "
                             "format) with a synset like n01440764, got %r" % (path, number, line[:60]))
        labels[os.path.splitext(os.path.basename(parts[0].strip()))[0]] = synset
    if not labels:
        raise UsageError("--val-labels file %s has no labels" % path)
    return labels


def list_flat_val(val_dir, classes, labels_path):
    """Items of a flat ImageNet val folder labelled through a labels file."""
    labels = read_val_labels(labels_path)
    label_of = {name: label for label, name in enumerate(classes)}
    items, skipped, missing = [], [], []
    for entry in sorted(os.scandir(val_dir), key=lambda e: e.name):
        if not entry.is_file():
            continue
        if not is_image_name(entry.name):
            skipped.append((entry.path, "not an image file name"))
            continue
        synset = labels.get(os.path.splitext(entry.name)[0])
        if synset is None:
            missing.append(entry.name)
        elif synset not in label_of:
            raise UsageError("%s: val image %s has synset %s, which is not a train class folder; "
                             "train and val must come from the same release"
                             % (labels_path, entry.name, synset))
        else:
            items.append(Item(label_of[synset], entry.path, entry.name))
    if missing:
        raise UsageError("%d val images have no entry in %s (first: %s); use the labels file that "
                         "belongs to this val folder" % (len(missing), labels_path, missing[0]))
    return items, skipped


def prepare_imagenet(train_dir, val_dir, out_dir, val_labels=None, options=None):
    """Pack ILSVRC2012 into out_dir/train.* and out_dir/val.* with GluonCV's sorted-synset labels.

    Train is shuffled (when enabled), val keeps its sorted file order. Counts that differ from
    the official release produce a loud warning before packing, then packing proceeds.
    """
    options = options or EncodeOptions()
    options.validate()
    classes, train_items, train_skipped = list_class_folder(train_dir)
    if not os.path.isdir(val_dir):
        raise UsageError("--val %s is not a directory" % val_dir)
    has_folders = any(entry.is_dir() for entry in os.scandir(val_dir))
    if has_folders and val_labels:
        raise UsageError("--val %s already has class folders, so --val-labels is ambiguous; drop it"
                         % val_dir)
    if has_folders:
        _, val_items, val_skipped = list_class_folder(val_dir, classes)
    elif val_labels:
        val_items, val_skipped = list_flat_val(val_dir, classes, val_labels)
    else:
        raise UsageError("--val %s is a flat folder; pass --val-labels LOC_val_solution.csv (or a "
                         "'filename synset' list) so each image gets its class" % val_dir)
    val_classes = len({item.label for item in val_items})
    warning = count_warning(
        "this does not look like the full ILSVRC2012 classification set:",
        [("train classes", len(classes), IMAGENET_CLASSES),
         ("train images", len(train_items), IMAGENET_TRAIN),
         ("val images", len(val_items), IMAGENET_VAL),
         ("classes present in val", val_classes, IMAGENET_CLASSES)],
        MISLABEL_ADVICE)
    warn(warning)
    if not train_items or not val_items:
        raise UsageError("no images found in %s" % (train_dir if not train_items else val_dir))
    train = pack(shuffled(train_items, options), os.path.join(out_dir, "train"), classes, options,
                 train_skipped, desc="train")
    val = pack(val_items, os.path.join(out_dir, "val"), classes, options, val_skipped, desc="val")
    return [train, val], warning


PLACES365_TRAIN, PLACES365_VAL, PLACES365_CLASSES = 1803460, 36500, 365
PLACES365_TRAIN_DIRS = ("data_256", "train_256", "data_large", "train_large")
PLACES365_VAL_DIRS = ("val_256", "val_large")


def read_places_list(path, image_dir):
    """Items from an official Places365 list file ('relative/path.jpg label' per line); a path
    leading outside ``image_dir`` is a UsageError naming the line."""
    items, root = [], rooted.Root(image_dir)
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                name, label = parts[0], int(parts[1])
            except (IndexError, ValueError):
                raise UsageError("%s line %d is not 'path label' (%r)"
                                 % (path, number, line.strip()[:60])) from None
            if not 0 <= label < PLACES365_CLASSES:
                raise UsageError("%s line %d: label %d is outside 0..%d"
                                 % (path, number, label, PLACES365_CLASSES - 1))
            relpath = name.lstrip("/")
            root.check(os.path.join(image_dir, relpath), "%s line %d" % (path, number))
            items.append(Item(label, os.path.join(image_dir, relpath), relpath))
    return items


def read_places_categories(path):
    """Class names by label from categories_places365.txt ('/a/abbey 0'), or None if absent."""
    if not os.path.isfile(path):
        return None
    names = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                names[int(parts[1])] = parts[0][3:] if parts[0][2:3] == "/" else parts[0].lstrip("/")
    return [names.get(label, str(label)) for label in range(PLACES365_CLASSES)]


def first_existing(root, names, what):
    for name in names:
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    raise UsageError("%s has no %s image folder (looked for %s)" % (root, what, ", ".join(names)))


def prepare_places365(root, out_dir, options=None):
    """Pack Places365-Standard from its official list files into out_dir/train.* and val.*."""
    options = options or EncodeOptions()
    options.validate()
    lists = {split: os.path.join(root, name) for split, name in
             (("train", "places365_train_standard.txt"), ("val", "places365_val.txt"))}
    for path in lists.values():
        if not os.path.isfile(path):
            raise UsageError("%s not found; --root must hold the official Places365-Standard list "
                             "files and the image folders" % path)
    train_items = read_places_list(lists["train"], first_existing(root, PLACES365_TRAIN_DIRS, "train"))
    val_items = read_places_list(lists["val"], first_existing(root, PLACES365_VAL_DIRS, "val"))
    classes = read_places_categories(os.path.join(root, "categories_places365.txt"))
    labels_seen = len({item.label for item in train_items})
    warning = count_warning(
        "this does not look like the full Places365-Standard set:",
        [("train images", len(train_items), PLACES365_TRAIN),
         ("val images", len(val_items), PLACES365_VAL),
         ("classes present in train", labels_seen, PLACES365_CLASSES)],
        ["check --root and the list files. Proceeding anyway."])
    warn(warning)
    if not train_items or not val_items:
        raise UsageError("%s lists no images" % (lists["train"] if not train_items else lists["val"]))
    train = pack(shuffled(train_items, options), os.path.join(out_dir, "train"), classes, options,
                 desc="train")
    val = pack(val_items, os.path.join(out_dir, "val"), classes, options, desc="val")
    return [train, val], warning
