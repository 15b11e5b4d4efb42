"""A built-in demo data set: synthetic shape/texture classes drawn with OpenCV, packed to RecordIO.

Every class draws its foreground and background colours from the same distribution, so colour
alone carries no class information; only shape, texture and orientation do. Each image's
random state is derived from (seed, split, class, index), so the output is deterministic.
"""
import json
import math
import os
import shutil
import sys
import time

import cv2
import numpy as np
from tqdm import tqdm

from .. import atomic, outputs
from ..errors import UsageError
from ..data import recordfile
from . import pack

KINDS = ("circle", "square", "triangle", "star", "ring",
         "hstripes", "vstripes", "dstripes", "checker", "cross")
SPLITS = ("train", "val")
MANIFEST = "demo_manifest.json"
MANIFEST_FORMAT = 1
MIN_SIDE, MAX_SIDE = 300, 500
JPEG_QUALITY = 90
MIN_CONTRAST = 110.0


def random_colours(rng):
    """A (foreground, background) pair from a class-independent distribution, clearly apart."""
    while True:
        first, second = rng.integers(0, 256, size=(2, 3))
        if np.linalg.norm(first - second) >= MIN_CONTRAST:
            return first.astype(np.float32), second.astype(np.float32)


def polygon(center, radius, angle, radii):
    """Vertices at equal angular steps from ``angle`` with the given radii (fractions of radius)."""
    steps = len(radii)
    points = [(center[0] + radius * r * math.cos(angle + 2 * math.pi * k / steps),
               center[1] + radius * r * math.sin(angle + 2 * math.pi * k / steps))
              for k, r in enumerate(radii)]
    return np.round(np.array(points) * 16).astype(np.int32)


def fill(mask, points):
    cv2.fillPoly(mask, [points], 255, cv2.LINE_AA, shift=4)


def rotated_rect(center, half_w, half_h, angle):
    """Corners of a rectangle rotated by ``angle`` radians, in 1/16 pixel units."""
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(sx * half_w, sy * half_h) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    points = [(center[0] + x * cos - y * sin, center[1] + x * sin + y * cos) for x, y in corners]
    return np.round(np.array(points) * 16).astype(np.int32)


def texture_mask(shape, kind, rng):
    """A full-image 0/255 mask of stripes (orientation set by ``kind``) or a checkerboard."""
    height, width = shape
    period = rng.uniform(12, 26)
    jitter = math.radians(rng.uniform(-12, 12))
    base = {"hstripes": 0.0, "vstripes": 90.0, "checker": 0.0,
            "dstripes": float(rng.choice([45.0, 135.0]))}[kind]
    angle = math.radians(base) + jitter
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    across = (-math.sin(angle) * xs + math.cos(angle) * ys) / period + rng.uniform(0, 1)
    bands = (across % 1.0) < 0.5
    if kind == "checker":
        along = (math.cos(angle) * xs + math.sin(angle) * ys) / period + rng.uniform(0, 1)
        bands = bands ^ ((along % 1.0) < 0.5)
    return bands.astype(np.uint8) * 255


def object_mask(shape, kind, rng):
    """A 0..255 mask of one object of class ``kind`` at a random position, scale and rotation."""
    height, width = shape
    mask = np.zeros(shape, np.uint8)
    radius = rng.uniform(0.2, 0.36) * min(height, width)
    center = (rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height)
    spin = rng.uniform(0, 2 * math.pi)
    if kind in ("circle", "ring"):
        # The ring's pen is centred on the ellipse, so shrink the axes by half its width.
        width_px = int(radius * rng.uniform(0.22, 0.35)) if kind == "ring" else 0
        axes = (int((radius - width_px / 2) * 16), int((radius * rng.uniform(0.85, 1.0) - width_px / 2) * 16))
        centre16 = (int(center[0] * 16), int(center[1] * 16))
        cv2.ellipse(mask, centre16, axes, math.degrees(spin), 0, 360, 255, width_px or -1, cv2.LINE_AA, 4)
    elif kind == "square":
        fill(mask, polygon(center, radius, spin, [1.0] * 4))
    elif kind == "triangle":
        fill(mask, polygon(center, radius * 1.15, spin, [1.0] * 3))
    elif kind == "star":
        fill(mask, polygon(center, radius * 1.15, spin, [1.0, rng.uniform(0.38, 0.5)] * 5))
    elif kind == "cross":
        tilt = math.radians(rng.uniform(-15, 15))
        arm = radius * rng.uniform(0.28, 0.38)
        fill(mask, rotated_rect(center, radius, arm, tilt))
        fill(mask, rotated_rect(center, arm, radius, tilt))
    else:
        patch = np.zeros(shape, np.uint8)
        half_w, half_h = radius * rng.uniform(0.85, 1.0, 2)
        fill(patch, rotated_rect(center, half_w, half_h, spin))
        mask = cv2.bitwise_and(patch, texture_mask(shape, kind, rng))
    return mask


def clutter(image, rng, count):
    """Draw ``count`` thin random lines and dots in random colours (no class information)."""
    height, width = image.shape[:2]
    for _ in range(count):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, x1 = rng.integers(0, width, 2)
        y0, y1 = rng.integers(0, height, 2)
        if rng.random() < 0.6:
            thickness = int(rng.integers(1, 3))
            cv2.line(image, (int(x0), int(y0)), (int(x1), int(y1)), colour, thickness, cv2.LINE_AA)
        else:
            cv2.circle(image, (int(x0), int(y0)), int(rng.integers(2, 5)), colour, -1, cv2.LINE_AA)


def draw_image(kind, rng):
    """One BGR uint8 image of class ``kind``: gradient background, clutter, object, noise."""
    height, width = (int(side) for side in rng.integers(MIN_SIDE, MAX_SIDE + 1, 2))
    foreground, background = random_colours(rng)
    direction, strength = rng.uniform(0, 2 * math.pi), rng.uniform(-40, 40)
    cos, sin = math.cos(direction), math.sin(direction)
    corners = np.array([[0.0, cos], [sin, cos + sin]])   # the ramp at the 2x2 grid's corners
    ramp = (corners - corners.mean()) * strength
    image = cv2.resize(np.clip(background + ramp[..., None], 0, 255).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    clutter(image, rng, int(rng.integers(4, 10)))
    alpha = object_mask((height, width), kind, rng).astype(np.float32) * (1.0 / 255.0)
    solid = np.empty_like(image)
    solid[:] = foreground.astype(np.uint8)
    image = cv2.blendLinear(solid, image, alpha, 1.0 - alpha)
    image = cv2.add(image, rng.integers(-10, 11, image.shape, dtype=np.int16), dtype=cv2.CV_8U)
    clutter(image, rng, int(rng.integers(0, 3)))
    return image


def image_seed(seed, split, label, index):
    return [seed, SPLITS.index(split), label, index]


def write_image(job):
    """Draw and save one JPEG; ``job`` is (path, kind, seed list)."""
    path, kind, seed = job
    image = draw_image(kind, np.random.default_rng(seed))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a demo image")
    atomic.write_bytes(path, encoded.tobytes())


def demo_paths(out_dir):
    """Where each file of a demo set lives."""
    paths = {"root": out_dir, "manifest": os.path.join(out_dir, MANIFEST),
             "images": os.path.join(out_dir, "images")}
    for split in SPLITS:
        for ext, path in recordfile.output_paths(os.path.join(out_dir, split)).items():
            paths["%s_%s" % (split, ext)] = path
        paths["%s_images" % split] = os.path.join(out_dir, "images", split)
    return paths


def read_manifest(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def is_complete(paths, params):
    """True when the manifest says a build with ``params`` finished and its files are intact."""
    manifest = read_manifest(paths["manifest"])
    if not manifest or manifest.get("status") != "complete" or manifest.get("params") != params:
        return False
    return all(os.path.isfile(os.path.join(paths["root"], name)) and
               os.path.getsize(os.path.join(paths["root"], name)) == size
               for name, size in manifest.get("files", {}).items())


def write_manifest(paths, params, status):
    files = {}
    if status == "complete":
        names = ["%s.%s" % (split, ext) for split in SPLITS for ext in ("rec", "idx", "lst", "classes")]
        files = {name: os.path.getsize(os.path.join(paths["root"], name)) for name in names}
    manifest = {"format": MANIFEST_FORMAT, "status": status, "params": params, "files": files}
    atomic.write_text(paths["manifest"], json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                      replace=True)


def generate_images(paths, params, threads, progress):
    """Write the JPEG tree images/{train,val}/<class>/ with a thread pool."""
    jobs = []
    for split in SPLITS:
        for label, kind in enumerate(KINDS[:params["classes"]]):
            folder = os.path.join(paths["%s_images" % split], kind)
            os.makedirs(folder, exist_ok=True)
            for index in range(params["%s_per_class" % split]):
                name = "%s_%s_%04d.jpg" % (split, kind, index)
                seed = image_seed(params["seed"], split, label, index)
                jobs.append((os.path.join(folder, name), kind, seed))
    with tqdm(total=len(jobs), desc="draw", unit="img", file=sys.stderr, disable=not progress,
              mininterval=1.0) as bar:
        for _ in pack.ordered_map(write_image, jobs, threads):
            bar.update()


def make_demo_data(out_dir, seed=0, classes=10, train_per_class=260, val_per_class=50,
                   overwrite=False, threads=None, progress=True):
    """Build (or reuse) the demo set in ``out_dir``; return a dict of its paths.

    Keys: root, manifest, images, {train,val}_{rec,idx,lst,classes,images}. A complete set built
    with the same parameters is reused; anything else already there is refused unless
    ``overwrite`` (then it is replaced).
    """
    if not 2 <= classes <= len(KINDS):
        raise UsageError("--classes must be between 2 and %d (the demo has %d drawable kinds), got %d"
                         % (len(KINDS), len(KINDS), classes))
    if train_per_class < 1 or val_per_class < 1:
        raise UsageError("--train-per-class and --val-per-class must be >= 1")
    if seed < 0:
        raise UsageError("--seed must be ≥ 0, got %d" % seed)
    if threads is not None:
        pack.check_threads(threads)
    params = {"seed": seed, "classes": classes, "train_per_class": train_per_class,
              "val_per_class": val_per_class, "min_side": MIN_SIDE, "max_side": MAX_SIDE,
              "quality": JPEG_QUALITY, "format": MANIFEST_FORMAT}
    paths = demo_paths(out_dir)
    outputs.check_folder(out_dir, "OUT_DIR")
    if not overwrite and is_complete(paths, params):
        print("demo data in %s is complete (same parameters); reusing it (--overwrite rebuilds)"
              % out_dir, file=sys.stderr)
        return paths
    written = [paths[key] for key in sorted(paths) if key not in ("root",) and
               not key.endswith("_images")]
    manifest = read_manifest(paths["manifest"]) or {}
    interrupted = manifest.get("status") == "building" and manifest.get("params") == params
    replace = overwrite or interrupted
    outputs.refuse_existing(written, "OUT_DIR", replace)
    with outputs.removed_if_failed(out_dir):
        if os.path.exists(paths["images"]):
            shutil.rmtree(paths["images"])
        _build(paths, params, seed, threads, progress, replace)
    return paths


def _build(paths, params, seed, threads, progress, replace):
    """Draw the images and pack both splits (replacing the record files of an earlier build
    when ``replace``); the manifest says "complete" only at the end."""
    out_dir = paths["root"]
    start = time.time()
    write_manifest(paths, params, "building")
    threads = threads or os.cpu_count() or 1
    generate_images(paths, params, threads, progress)
    for split in SPLITS:
        options = pack.EncodeOptions(pass_through=True, threads=threads, shuffle=split == "train",
                                        seed=seed, progress=progress, overwrite=replace)
        result = pack.prepare_folder(paths["%s_images" % split], os.path.join(out_dir, split), options)
        print("\n".join(result.summary_lines()), file=sys.stderr)
    write_manifest(paths, params, "complete")
    print("demo data built in %s in %.1f s" % (out_dir, time.time() - start), file=sys.stderr)
