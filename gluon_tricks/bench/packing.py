"""``bench prepare``: ``gluon-tricks prepare folder`` against MXNet's own im2rec on one folder.

Both run as the commands a user would type, in fresh subprocesses with the same settings
(shorter side resized, JPEG quality, worker count, no shuffle), alternating which goes first
in each round, so load from other processes drifts over both alike. ``check-rec`` (full
decode of every record) runs on prepare's output in the same rounds. ``make_imagenet_like``
writes a folder whose image sizes follow ImageNet's.
"""
import functools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import cv2
import mxnet as mx
import numpy as np

from .. import atomic
from ..data import codec, recordfile
from ..errors import UsageError

HELP = ("seconds and images/s of `prepare folder` vs MXNet's tools/im2rec.py on the same folder "
        "and settings, in alternating rounds, plus check-rec's full decode of the result")
# ImageNet train: most images are about 500 × 375 (shorter side 300–500 px); roughly one in
# seven is far larger, 1000–2500 px on its longer side.
LARGE_SHARE = 1 / 7
SMALL_LONG_SIDE, LARGE_LONG_SIDE = (400, 500), (1000, 2500)
ASPECTS = (3 / 4, 2 / 3, 4 / 5, 1.0)   # shorter ÷ longer side
GENERATED_QUALITY = 90


def imagenet_like_size(rng):
    """(height, width) drawn like an ImageNet photo: landscape or portrait, mostly 300–500 px."""
    low, high = LARGE_LONG_SIDE if rng.random() < LARGE_SHARE else SMALL_LONG_SIDE
    long_side = int(rng.integers(low, high + 1))
    short_side = max(300, round(long_side * ASPECTS[int(rng.integers(len(ASPECTS)))]))
    return (short_side, long_side) if rng.random() < 0.7 else (long_side, short_side)


def photo_like(rng, height, width):
    """A BGR image with a photo's spectrum: random fields at every octave, the amplitude falling
    with frequency (about 1/f), plus fine luminance grain. At quality 90 it compresses to about
    0.4 bytes per pixel, like ImageNet's JPEGs, so entropy decoding costs what it costs there."""
    image = np.full((height, width, 3), 128, np.float32)
    cells = 4
    while cells <= max(height, width):
        field = rng.standard_normal((max(2, height * cells // max(height, width)),
                                     max(2, width * cells // max(height, width)), 3))
        image += cv2.resize(field.astype(np.float32), (width, height),
                            interpolation=cv2.INTER_LINEAR) * 50 * (4 / cells) ** 0.35
        cells *= 2
    image += rng.standard_normal((height, width, 1)).astype(np.float32) * 5
    return np.clip(image, 0, 255).astype(np.uint8)


def make_imagenet_like(folder, count, classes=10, seed=0, threads=None):
    """Write ``count`` JPEGs into ``folder``/cNN/ with ImageNet-like sizes; return the sizes.

    The folder must not exist yet; it appears under its name only once complete.
    """
    if os.path.exists(folder):
        raise UsageError("%s already exists; --make writes a new folder, so name one that does "
                         "not exist (or drop --make to benchmark on it)" % folder)
    if count < classes:
        raise UsageError("--make needs at least %d images (one per class), got %d" % (classes, count))
    rng = np.random.default_rng(seed)
    jobs = [(index, imagenet_like_size(rng), int(rng.integers(2 ** 31))) for index in range(count)]
    parent, name = os.path.split(os.path.abspath(folder))
    with atomic.staging(parent, name) as stage:
        temp = os.path.join(stage, name)
        os.mkdir(temp)
        for label in range(classes):
            os.mkdir(os.path.join(temp, "c%02d" % label))
        with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
            sizes = list(pool.map(functools.partial(write_photo, temp, classes), jobs))
        atomic.publish(temp, folder)
    return sizes


def write_photo(folder, classes, job):
    """Write job (index, (height, width), seed)'s photo-like JPEG into ``folder``/cNN/."""
    index, (height, width), image_seed = job
    path = os.path.join(folder, "c%02d" % (index % classes), "img_%06d.jpg" % index)
    image = photo_like(np.random.default_rng(image_seed), height, width)
    with open(path, "wb") as handle:
        handle.write(codec.encode_jpeg(image, GENERATED_QUALITY))
    return height, width


def im2rec_script():
    """Path of tools/im2rec.py in the installed MXNet package."""
    path = os.path.join(os.path.dirname(mx.__file__), "tools", "im2rec.py")
    if not os.path.isfile(path):
        raise UsageError("%s not found: this MXNet install does not ship tools/im2rec.py, so there "
                         "is nothing to compare with" % path)
    return path


class Timing(NamedTuple):
    """Wall and CPU seconds (of the process and its children) of one run, and records written."""

    wall: float
    cpu: float
    records: int


def timed(commands):
    """Run ``commands`` one after the other; Timing of all of them. UsageError if one fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError("benchmark step failed (exit %d): %s: %s"
                             % (proc.returncode, " ".join(command), tail))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu, 0)


def count_records(idx_path):
    return len(recordfile.read_idx(idx_path)) if os.path.isfile(idx_path) else 0


def run_prepare(src, work, args):
    prefix = os.path.join(work, "prepare")
    timing = timed([[sys.executable, "-m", "gluon_tricks", "prepare", "folder", src, prefix,
                     "--resize", str(args.resize), "--quality", str(args.quality),
                     "--threads", str(args.threads), "--no-shuffle"]])
    return timing._replace(records=count_records(prefix + ".idx"))


def run_im2rec(src, work, args):
    prefix, script = os.path.join(work, "im2rec"), im2rec_script()
    timing = timed([
        [sys.executable, script, "--list", "--recursive", "--no-shuffle", prefix, src],
        [sys.executable, script, "--resize", str(args.resize), "--quality", str(args.quality),
         "--num-thread", str(args.threads), "--no-shuffle", prefix, src],
    ])
    return timing._replace(records=count_records(prefix + ".idx"))


def run_startups():
    """Wall seconds of each tool's start-up alone (``--help``: Python, MXNet and OpenCV imports)."""
    return (timed([[sys.executable, "-m", "gluon_tricks", "--help"]]).wall,
            timed([[sys.executable, im2rec_script(), "--help"]]).wall)


def run_check(work, args):
    rec = os.path.join(work, "prepare.rec")
    timing = timed([[sys.executable, "-m", "gluon_tricks", "check-rec", rec, "--decode",
                     "--threads", str(args.threads)]])
    return timing._replace(records=count_records(os.path.join(work, "prepare.idx")))


def run(args):
    """Time both tools (and check-rec) on ``args.src`` in alternating rounds; print the table."""
    if args.make:
        make_imagenet_like(args.src, args.make)
    elif not os.path.isdir(args.src):
        raise UsageError("%s is not a folder; pass an image folder, or add --make N to create an "
                         "ImageNet-like one there" % args.src)
    src = os.path.abspath(args.src)
    rows = {"prepare": [], "im2rec": [], "check": []}
    startups = []
    for round_number in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-prepare-") as work:
            order = ("prepare", "im2rec") if round_number % 2 == 0 else ("im2rec", "prepare")
            for name in order:
                runner = run_prepare if name == "prepare" else run_im2rec
                rows[name].append(runner(src, work, args))
            rows["check"].append(run_check(work, args))
        startups.append(run_startups())
        print("round %d/%d: %s" % (round_number + 1, args.repeats, ", ".join(
            "%s %.1f s" % (name, timings[-1].wall) for name, timings in rows.items())),
            file=sys.stderr, flush=True)
    print(format_table(rows, startups, args, src))
    return 0


def format_table(rows, startups, args, src):
    """Markdown table: median wall/CPU seconds, images/s and the paired im2rec ÷ tool ratios."""
    labels = {
        "prepare": "gluon-tricks prepare folder (INTER_AREA, libjpeg-turbo)",
        "im2rec": "MXNet tools/im2rec.py --list, then pack (bilinear)",
        "check": "gluon-tricks check-rec --decode on prepare's .rec",
    }
    base = rows["im2rec"]
    lines = ["| tool | records | wall s (median) | CPU s | img/s | im2rec wall ÷ this (paired median) "
             "| im2rec CPU ÷ this |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, timings in rows.items():
        wall = statistics.median(t.wall for t in timings)
        cpu = statistics.median(t.cpu for t in timings)
        ratio = statistics.median(b.wall / t.wall for b, t in zip(base, timings))
        cpu_ratio = statistics.median(b.cpu / t.cpu for b, t in zip(base, timings))
        lines.append("| %s | %d | %.2f | %.2f | %.0f | %.2f | %.2f |" % (
            labels[name], timings[0].records, wall, cpu, timings[0].records / wall, ratio, cpu_ratio))
    ours, theirs = (statistics.median(values) for values in zip(*startups))
    # im2rec starts twice (--list, then the pack), prepare once.
    work_ratio = statistics.median((b.wall - 2 * theirs) / (t.wall - ours)
                                   for b, t in zip(base, rows["prepare"]))
    lines += ["", "%s; --resize %d --quality %d, %d worker(s) each, no shuffle, %d round(s) in "
              "alternating order; times include starting Python and importing MXNet"
              % (src, args.resize, args.quality, args.threads, args.repeats),
              "start-up alone (median of --help): gluon-tricks %.2f s, im2rec.py %.2f s (it starts "
              "twice); without start-ups, im2rec wall ÷ prepare wall = %.2f" % (ours, theirs, work_ratio)]
    return "\n".join(lines)
