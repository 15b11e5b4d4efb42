"""One worker of a distributed test run: train like ``gluon-tricks train``, then save this rank's
parameters, so the test can check that every worker ends with the same weights.

``python tests/dist_driver.py --out DIR TRAIN_FLAGS...`` under ``gluon-tricks launch`` or
``horovodrun``. Each rank trains into ``<--save-dir>/rank<r>`` (only rank 0 may write there) and
saves ``DIR/rank<r>.params`` and ``DIR/rank<r>.json`` (its resolved config, rank and world size,
and the labels of every training batch it took, per epoch).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_tricks.commands.train import config_from_args, configure  # noqa: E402
from gluon_tricks.distributed import Distribution  # noqa: E402
from gluon_tricks.classification import Run  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="folder for rank<r>.params and rank<r>.json")
    configure(parser)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    dist = Distribution(cfg)
    cfg.save_dir = os.path.join(cfg.save_dir, "rank%d" % dist.rank)
    os.makedirs(cfg.save_dir, exist_ok=True)
    run = Run(cfg, dist)
    labels = record_labels(run)
    run.fit()
    os.makedirs(args.out, exist_ok=True)
    run.net.save_parameters(os.path.join(args.out, "rank%d.params" % dist.rank))
    with open(os.path.join(args.out, "rank%d.json" % dist.rank), "w") as f:
        json.dump({"rank": dist.rank, "size": dist.size, "config": cfg.to_dict(),
                   "labels": labels}, f)
    return 0


class LabelsTaken:
    """The training batches of one epoch, keeping the labels of each batch the loop takes."""

    def __init__(self, batches, labels):
        self.batches, self.labels = batches, labels

    def __next__(self):
        batch = next(self.batches)
        self.labels.extend(int(v) for v in batch.label[0].asnumpy())
        return batch

    def close(self):
        self.batches.close()


def record_labels(run):
    """{epoch: labels of the batches ``run`` trains on} from now on (a wrapper of its batches)."""
    labels, make = {}, run.epoch_batches
    run.epoch_batches = lambda epoch, start=0: LabelsTaken(make(epoch, start),
                                                           labels.setdefault(epoch, []))
    return labels


if __name__ == "__main__":
    sys.exit(main())
