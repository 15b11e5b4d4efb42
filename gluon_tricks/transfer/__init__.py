"""Transfer learning (paper §6): Faster R-CNN on VOC (Table 8) and FCN on ADE20K (Table 9),
with this project's ResNets as backbones on GluonCV's detection and segmentation parts."""
