"""What training reads: the RecordIO format and image headers, the readers (ImageRecordIter,
DALI, synthetic), augmentation and mixup (paper §2.1, §5.4). Offline tooling that writes and
checks data sets is in :mod:`gluon_tricks.datasets`."""

# Where training batches come from: RecordIO files read by MXNet's ImageRecordIter (rec) or by
# NVIDIA DALI (dali-cpu, dali-gpu; data/dali.py), or random tensors to time the model alone.
BACKENDS = ("rec", "dali-cpu", "dali-gpu", "synthetic")
