"""Which change made `prepare` faster: per-image cost of each decode/resize/encode variant.

Every variant turns the same JPEG files into the bytes `prepare --resize 256 --quality 90`
would store, on one thread, all variants on one image before the next (the order rotating) so
that machine load hits all alike. Then: the record writer's cost per record, and the thread pool against a process pool.

    PYTHONPATH=. python benchmarks/prepare_levers.py /tmp/pp/inet1000 --rounds 2

(make the folder with `gluon-tricks bench prepare DIR --make 1000`). Results: benchmarks/README.md.
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import mxnet as mx
import numpy as np
import simplejpeg

from gluon_tricks.data import codec
from gluon_tricks.datasets import pack

cv2.setNumThreads(1)
OPTIONS = pack.EncodeOptions(resize=256, quality=90, threads=1, progress=False)


def cv2_encode(image):
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, OPTIONS.quality])[1].tobytes()


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def target_of(data):
    return codec.shorter_side_size(*codec.jpeg_size(data), OPTIONS.resize)


def im2rec_like(path):
    """MXNet im2rec's work: cv2 decode at full size, bilinear resize, OpenCV encode."""
    data = read(path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2_encode(cv2.resize(image, target_of(data)))


def before(path):
    """prepare before this change: OpenCV full decode, truncation scan, INTER_AREA, OpenCV encode."""
    data = read(path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    codec.truncated_jpeg(data)
    return cv2_encode(cv2.resize(image, target_of(data), interpolation=cv2.INTER_AREA))


def opencv_reduced(path):
    """OpenCV only, IMREAD_REDUCED_COLOR_2/4/8 as prepare picks the scale (header, twice the output)."""
    data = read(path)
    height, width = codec.jpeg_size(data)
    target = codec.shorter_side_size(height, width, OPTIONS.resize)
    factor = codec.dct_factor(height, width, 2 * target[1], 2 * target[0])
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    codec.truncated_jpeg(data)
    return cv2_encode(codec.resize(image, target))


def turbo_decode_opencv_encode(path):
    """libjpeg-turbo (simplejpeg) full-size decode, INTER_AREA, OpenCV encode."""
    data = read(path)
    image = simplejpeg.decode_jpeg(data, "BGR")
    return cv2_encode(codec.resize(image, target_of(data)))


def turbo_full(path):
    """libjpeg-turbo full-size decode and encode, INTER_AREA."""
    data = read(path)
    return codec.encode_jpeg(codec.resize(simplejpeg.decode_jpeg(data, "BGR"), target_of(data)),
                             OPTIONS.quality)


def turbo_any_scale(path):
    """libjpeg-turbo at any of its scales (3/4, 5/8, 3/8...) that keeps the output size."""
    data = read(path)
    width, height = target_of(data)
    image = simplejpeg.decode_jpeg(data, "BGR", min_height=height, min_width=width)
    return codec.encode_jpeg(codec.resize(image, (width, height)), OPTIONS.quality)


def scaled_by_margin(path, margin):
    data = read(path)
    width, height = target_of(data)
    image, _ = codec.decode(data, round(margin * height), round(margin * width))
    return codec.encode_jpeg(codec.resize(image, (width, height)), OPTIONS.quality)


def turbo_margin_1(path):
    """libjpeg-turbo at 1/2, 1/4, 1/8 while the image keeps the output size (margin 1)."""
    return scaled_by_margin(path, 1)


def turbo_margin_2(path):
    """libjpeg-turbo at 1/2, 1/4, 1/8 while the image keeps twice the output size (margin 2)."""
    return scaled_by_margin(path, 2)


def shipped(path):
    """What prepare runs now: pack.encode_image (1/2, 1/4, 1/8 keeping 1.5 × the output size)."""
    return pack.encode_image(path, OPTIONS)[0]


VARIANTS = [im2rec_like, before, opencv_reduced, turbo_decode_opencv_encode, turbo_full,
            turbo_any_scale, turbo_margin_1, turbo_margin_2, shipped]


def per_image_ms(paths, rounds):
    """{variant name: [ms per image in each round]}, every variant run on an image before the next
    image (the order rotating), so that load drifting during a round hits all variants alike."""
    totals = {variant.__name__: [0.0] * rounds for variant in VARIANTS}
    for round_number in range(rounds):
        for number, path in enumerate(paths):
            shift = (round_number + number) % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                start = time.perf_counter()
                variant(path)
                totals[variant.__name__][round_number] += time.perf_counter() - start
        print("round %d done" % (round_number + 1), file=sys.stderr, flush=True)
    return {name: [1000 * total / len(paths) for total in values] for name, values in totals.items()}


def psnr(a, b):
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(error, 1e-10))


def quality_db(function, paths):
    """(median, worst) PSNR dB of the stored image against full decode + INTER_AREA (no
    re-encoding), each minus that of ``before`` on the same image."""
    values = []
    for path in paths:
        data = read(path)
        reference = cv2.resize(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                               target_of(data), interpolation=cv2.INTER_AREA)
        stored = cv2.imdecode(np.frombuffer(function(path), np.uint8), 1)
        old = cv2.imdecode(np.frombuffer(before(path), np.uint8), 1)
        values.append(psnr(stored, reference) - psnr(old, reference))
    return statistics.median(values), min(values)


def writer_us(payloads):
    """µs per record: MXNet's indexed writer vs the bare file writes of the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        writer = mx.recordio.MXIndexedRecordIO(os.path.join(tmp, "a.idx"), os.path.join(tmp, "a.rec"), "w")
        for key, payload in enumerate(payloads):
            writer.write_idx(key, mx.recordio.pack(mx.recordio.IRHeader(0, 0.0, key, 0), payload))
        writer.close()
        mxnet = time.perf_counter() - start
        start = time.perf_counter()
        with open(os.path.join(tmp, "b.rec"), "wb", buffering=1 << 22) as handle:
            for payload in payloads:
                handle.write(payload)
        plain = time.perf_counter() - start
    return 1e6 * mxnet / len(payloads), 1e6 * plain / len(payloads)


def pool_seconds(paths, workers, rounds):
    """Median wall seconds of shipped() over ``paths``: serial, prepare's thread pool, a process
    pool, in rotating order."""
    def serial():
        for path in paths:
            shipped(path)

    def threads():
        for _ in pack.ordered_map(shipped, paths, workers):
            pass

    def processes():
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(shipped, paths, chunksize=16))

    runs = [serial, threads, processes]
    seconds = {run.__name__: [] for run in runs}
    for round_number in range(rounds):
        for run in runs[round_number % 3:] + runs[:round_number % 3]:
            start = time.perf_counter()
            run()
            seconds[run.__name__].append(time.perf_counter() - start)
    return [statistics.median(seconds[run.__name__]) for run in runs]


def gil_share(function, payloads, seconds=2.0):
    """Share of its speed a pure-Python loop keeps while another thread runs ``function`` on
    ``payloads``: about 1 / (busy threads per core) if ``function`` releases the GIL, near 0 if not."""
    def spin(counts):
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            count += 1
        counts.append(count)

    def work(stop):
        while not stop.is_set():
            for payload in payloads:
                function(payload)

    alone = []
    spin(alone)
    stop, shared = threading.Event(), []
    worker = threading.Thread(target=work, args=(stop,))
    worker.start()
    spin(shared)
    stop.set()
    worker.join()
    return shared[0] / alone[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="a class-per-subfolder folder of JPEGs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(item.path for item in pack.list_class_folder(args.src)[1])
    times = per_image_ms(paths, args.rounds)
    quality_paths = paths[::5]
    base = times["im2rec_like"]
    print("| variant | ms/image (median) | im2rec ÷ this (paired median) "
          "| PSNR vs full decode + INTER_AREA, dB relative to before: median, worst |")
    print("|---|---:|---:|---:|")
    for variant in VARIANTS:
        name = variant.__name__
        ratio = statistics.median(b / t for b, t in zip(base, times[name]))
        print("| %s: %s | %.2f | %.2f | %+.2f, %+.2f |" % (
            name, variant.__doc__.split("\n")[0], statistics.median(times[name]), ratio,
            *quality_db(variant, quality_paths)))
    payloads = [shipped(path) for path in paths]
    mxnet, plain = writer_us(payloads)
    print("\nrecord writer: MXIndexedRecordIO.write_idx %.0f µs/record, plain buffered write %.0f µs/record"
          % (mxnet, plain))
    serial, threads, processes = pool_seconds(paths, args.workers, args.rounds)
    print("pool over %d images, %d workers: serial %.2f s, threads %.2f s (%.2f×), processes %.2f s (%.2f×)"
          % (len(paths), args.workers, serial, threads, serial / threads, processes, serial / processes))
    data = [read(path) for path in paths[:20]]
    image = simplejpeg.decode_jpeg(data[0], "BGR")
    for name, function in (("libjpeg-turbo decode", lambda d: simplejpeg.decode_jpeg(d, "BGR")),
                           ("libjpeg-turbo encode", lambda d: codec.encode_jpeg(image, 90)),
                           ("INTER_AREA resize", lambda d: codec.resize(image, (200, 150)))):
        print("GIL: a Python loop keeps %.0f%% of its speed beside a thread running %s"
              % (100 * gil_share(function, data), name))


if __name__ == "__main__":
    main()
