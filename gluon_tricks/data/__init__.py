"""Input pipeline: RecordIO iterators, augmentation, mixup and data preparation (paper §2.1, §5.4)."""

# Where training batches come from: RecordIO files, or random tensors to time the model alone.
BACKENDS = ("rec", "synthetic")
