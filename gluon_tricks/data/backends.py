"""The readers behind ``--data-backend`` that turn the same RecordIO files into batches (§2.1):
``rec`` (MXNet's ImageRecordIter, ``recorditer.py``) and ``dali-cpu``/``dali-gpu`` (NVIDIA DALI,
``dali.py``)."""
from . import dali, recorditer

DALI = dali.BACKENDS
RECORDS = ("rec",) + DALI
# Each epoch a permutation of the whole set and every crop drawn per image, with an exact resume
# from any batch (``sampling.py``), and faster than ImageRecordIter on CPU (benchmarks/README.md).
DEFAULT = "dali-cpu"


def check(backend, contexts):
    """One-line UsageErrors before anything is written: DALI not installed (naming the install
    command), ``dali-gpu`` without GPUs to train on."""
    if backend in DALI:
        dali.modules(backend)
        dali.pipeline_devices(backend, contexts)


def val_batches(backend, rec, idx, batch_size, input_size, threads, contexts):
    """Validation batches of ``rec`` (§2.1: shorter side to S/0.875, centre crop S) from
    ``backend``'s reader; ``contexts`` are the devices the network runs on."""
    if backend in DALI:
        return dali.val_iter(rec, idx, batch_size, input_size, backend, contexts, threads)
    return recorditer.val_iter(rec, idx, batch_size, input_size, threads=threads)
