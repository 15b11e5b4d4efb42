"""Dataset tooling that runs before training: packing image folders, ImageNet and Places365 into
RecordIO (``prepare``, :mod:`.pack`), checking and repairing record files (``check-rec``,
:mod:`.check`) and drawing the demo set (``make-demo-data``, :mod:`.demo`)."""
