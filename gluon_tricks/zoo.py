"""GluonCV's published model-zoo accuracies and how its weight files are named.

The zoo's ``.params`` files are named ``{model}-{sha1[:8]}.params`` (e.g.
``resnet50_v1d-117a384e.params`` in ``~/.mxnet/models``); each loads into the network of the
same name in :mod:`gluon_tricks.models`.
"""
import os
import re
from typing import NamedTuple

from .errors import UsageError
from .models import list_models


class Published(NamedTuple):
    """A zoo model's published ImageNet validation accuracy (%) at its input size."""

    model: str
    zoo_name: str
    top1: float
    top5: float
    note: str = ""


# GluonCV's model-zoo table (REFERENCE.md §6). resnet50_v1d is the mixup model, the paper's
# Table 6 "+ mixup w/o distill" row; GluonCV's no-mixup variant scored 78.48 / 94.20.
PUBLISHED = (
    Published("resnet50_v1", "ResNet50_v1", 77.36, 93.57),
    Published("resnet50_v1b", "ResNet50_v1b", 77.67, 93.82),
    Published("resnet50_v1c", "ResNet50_v1c", 78.03, 94.09),
    Published("resnet50_v1d", "ResNet50_v1d", 79.15, 94.58, "mixup (no mixup: 78.48 / 94.20)"),
    Published("resnet101_v1d", "ResNet101_v1d", 80.51, 95.12),
    Published("resnet152_v1d", "ResNet152_v1d", 80.61, 95.34),
    Published("mobilenet1.0", "MobileNet1.0", 73.28, 91.30),
    Published("inceptionv3", "InceptionV3", 78.77, 94.39, "299 px"),
)

PUBLISHED_BY_MODEL = {p.model: p for p in PUBLISHED}

ZOO_FILE = re.compile(r"(?P<model>.+)-(?P<sha1>[0-9a-f]{8})\.params")


def zoo_model(filename):
    """The registered model a zoo file name is for (``resnet50_v1d-117a384e.params`` →
    ``resnet50_v1d``), or None for any other file."""
    match = ZOO_FILE.fullmatch(filename)
    if match and match.group("model") in list_models():
        return match.group("model")
    return None


def find_zoo_files(folder):
    """(model, path) of every zoo file in ``folder``, sorted by model then file name."""
    found = []
    for name in sorted(os.listdir(folder)):
        model = zoo_model(name)
        if model and os.path.isfile(os.path.join(folder, name)):
            found.append((model, os.path.join(folder, name)))
    return sorted(found, key=lambda item: item[0])


def store_folder():
    """Where GluonCV's model store keeps zoo files: ``$MXNET_HOME/models``, else
    ``~/.mxnet/models``."""
    return os.path.join(os.path.expanduser(os.environ.get("MXNET_HOME", "~/.mxnet")), "models")


def download_zoo_file(model, folder, then="run without --download"):
    """Fetch ``model``'s zoo file into ``folder`` through GluonCV's model store (which checks
    its SHA-1; a file already there with the right hash is used as is) and return its path; a
    one-line UsageError saying how to place the file by hand, and ``then`` what, when that fails
    (e.g. offline). The store's lock file and any partial download are removed."""
    from gluoncv.model_zoo import model_store
    try:
        name = "%s-%s" % (model, model_store.short_hash(model))
    except ValueError:
        raise UsageError("GluonCV's model store has no %s weights to download" % model) from None
    leftovers = [os.path.join(folder, name + ext) for ext in (".lock", ".zip")
                 if not os.path.exists(os.path.join(folder, name + ext))]
    home = os.environ.pop("MXNET_HOME", None)      # it would override the folder
    try:
        return model_store.get_model_file(model, root=folder)
    except Exception as err:  # requests, zipfile and hash errors alike: one line to the user
        url = "%sgluon/models/%s.zip" % (os.environ.get("MXNET_GLUON_REPO",
                                                       model_store.apache_repo_url), name)
        raise UsageError("cannot download %s through GluonCV's model store (%s); place it by "
                         "hand: fetch %s and unzip %s.params into %s, then %s"
                         % (model, _download_error(err), url, name, folder, then)) from None
    finally:
        if home is not None:
            os.environ["MXNET_HOME"] = home
        for path in leftovers:
            if os.path.exists(path):
                os.unlink(path)


def _download_error(err):
    """A download failure in a few words: the host that could not be reached, else the message."""
    host = re.search(r"host='([^']+)'", str(err))
    if host:
        return "%s: cannot reach %s" % (type(err).__name__, host.group(1))
    lines = str(err).strip().splitlines()
    return "%s: %s" % (type(err).__name__, lines[0] if lines else "no details")

