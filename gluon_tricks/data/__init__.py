"""Input pipeline: RecordIO iterators, augmentation, mixup and data preparation (paper §2.1, §5.4)."""

# Where training batches come from: RecordIO files read by MXNet's ImageRecordIter (rec) or by
# NVIDIA DALI (dali-cpu, dali-gpu; data/dali.py), or random tensors to time the model alone.
BACKENDS = ("rec", "dali-cpu", "dali-gpu", "synthetic")
