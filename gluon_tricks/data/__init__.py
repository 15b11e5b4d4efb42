"""Input pipeline: RecordIO iterators, augmentation, mixup and data preparation (paper §2.1, §5.4)."""
