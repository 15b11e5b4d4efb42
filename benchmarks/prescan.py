"""The record pre-scan of ``train`` with and without the image-header check, side by side.

``train`` reads every record's frame and image headers through the .idx before it starts
(gluon_tricks.data.recordfile.scan_records); with ``--max-image-pixels`` it also reads each
JPEG's header up to its frame header. Packs N prepare-style JPEGs (300×225, quality 90) once,
then times both scans alternately, reporting microseconds per record (best of the repeats,
wall clock and this process's CPU time).

    PYTHONPATH=. python benchmarks/prescan.py --records 20000 --repeats 5
"""
import argparse
import os
import tempfile
import time

import mxnet as mx
import numpy as np
import simplejpeg

from gluon_tricks.data.imagesize import MAX_PIXELS
from gluon_tricks.data.recordfile import payload_checksum, scan_records


def pack(prefix, count, seed=0):
    writer = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "w")
    rng = np.random.RandomState(seed)
    for key in range(count):
        image = np.repeat(np.repeat(rng.randint(0, 256, (9, 12, 3)).astype(np.uint8), 25, 0), 25, 1)
        data = simplejpeg.encode_jpeg(image, 90, "BGR", "420")
        header = mx.recordio.IRHeader(0, float(key % 1000), key, payload_checksum(data))
        writer.write_idx(key, mx.recordio.pack(header, data))
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        prefix = os.path.join(folder, "bench")
        pack(prefix, args.records)
        best = {}
        for _ in range(args.repeats):
            for name, limit in (("headers only", None), ("with image headers", MAX_PIXELS)):
                wall, cpu = time.perf_counter(), time.process_time()
                scan_records(prefix + ".rec", prefix + ".idx", limit)
                took = (time.perf_counter() - wall, time.process_time() - cpu)
                best[name] = tuple(min(a, b) for a, b in zip(best.get(name, took), took))
        base = best["headers only"]
        for name, (wall, cpu) in best.items():
            print("%-20s %6.1f µs/record wall, %6.1f µs/record CPU, %.2f× wall"
                  % (name, 1e6 * wall / args.records, 1e6 * cpu / args.records, wall / base[0]))


if __name__ == "__main__":
    main()
