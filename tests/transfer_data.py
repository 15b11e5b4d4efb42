"""Tiny data sets in the official Pascal VOC and ADE20K folder layouts, and a saved backbone,
for the §6 command tests."""
import os

import mxnet as mx
import numpy as np
from PIL import Image

from gluon_tricks.transfer import backbone

VOC_CLASSES = ("cat", "dog")   # two of the 20 VOC classes
COLOURS = {"cat": (220, 40, 40), "dog": (40, 40, 220)}


def _box_xml(image_id, size, objects):
    w, h = size
    parts = ["<annotation><filename>%s.jpg</filename>" % image_id,
             "<size><width>%d</width><height>%d</height><depth>3</depth></size>" % (w, h)]
    for name, (x0, y0, x1, y1), difficult in objects:
        parts.append("<object><name>%s</name><difficult>%d</difficult><bndbox><xmin>%d</xmin>"
                     "<ymin>%d</ymin><xmax>%d</xmax><ymax>%d</ymax></bndbox></object>"
                     % (name, difficult, x0 + 1, y0 + 1, x1 + 1, y1 + 1))
    return "".join(parts) + "</annotation>"


def make_voc(root, splits=(("2007", "trainval", 4), ("2012", "trainval", 2), ("2007", "test", 2)),
             size=(80, 64), seed=0):
    """A VOCdevkit folder: each image a grey field with one or two coloured boxes (cat red, dog
    blue), with its XML; returns root."""
    rng = np.random.RandomState(seed)
    number = 0
    for year, split, count in splits:
        folder = os.path.join(root, "VOC" + year)
        for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        ids = []
        for _ in range(count):
            number += 1
            image_id = "%s_%06d" % (year, number)
            pixels = np.full((size[1], size[0], 3), 128, np.uint8)
            objects = []
            for k, name in enumerate(VOC_CLASSES[: 1 + number % 2]):
                x0, y0 = rng.randint(0, size[0] // 2 - 8), rng.randint(0, size[1] // 2 - 8)
                x1, y1 = x0 + rng.randint(24, size[0] // 2), y0 + rng.randint(24, size[1] // 2)
                pixels[y0:y1, x0:x1] = COLOURS[name]
                objects.append((name, (x0, y0, x1, y1), 0))
            Image.fromarray(pixels).save(os.path.join(folder, "JPEGImages", image_id + ".jpg"))
            with open(os.path.join(folder, "Annotations", image_id + ".xml"), "w") as f:
                f.write(_box_xml(image_id, size, objects))
            ids.append(image_id)
        with open(os.path.join(folder, "ImageSets", "Main", split + ".txt"), "a") as f:
            f.write("".join(i + "\n" for i in ids))
    return root


def make_ade(root, train=4, val=2, size=(72, 56), seed=0):
    """An ADEChallengeData2016 folder: images split into a few coloured regions with label PNGs
    (0 = unlabelled, 1..3 = classes); returns the ADEChallengeData2016 path."""
    rng = np.random.RandomState(seed)
    base = os.path.join(root, "ADEChallengeData2016")
    for split, count in (("training", train), ("validation", val)):
        for kind in ("images", "annotations"):
            os.makedirs(os.path.join(base, kind, split), exist_ok=True)
        for i in range(count):
            label = np.zeros((size[1], size[0]), np.uint8)
            cut = rng.randint(size[0] // 4, 3 * size[0] // 4)
            label[:, :cut], label[: size[1] // 2, cut:], label[size[1] // 2:, cut:] = 1, 2, 3
            label[:2] = 0
            palette = np.array([[0, 0, 0], [200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
            name = "ADE_%s_%08d" % ("train" if split == "training" else "val", i + 1)
            Image.fromarray(palette[label]).save(os.path.join(base, "images", split, name + ".jpg"))
            Image.fromarray(label).save(os.path.join(base, "annotations", split, name + ".png"))
    return base


def save_backbone(path, name="resnet18_v1d", seed=0):
    """Save randomly initialised ImageNet-classifier weights of ``name`` (as a classification
    run would) to ``path``; returns path."""
    net = backbone.build(name)
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 64, 64)))
    net.save_parameters(path)
    return path
