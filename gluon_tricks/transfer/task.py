"""What the §6 tasks (Faster R-CNN on VOC, FCN on ADE20K) share inside the run core: the start
of a run from a classifier's weights, the epoch's length from the training set, an SGD trainer
holding the task's lr schedule (:mod:`gluon_tricks.lr_scheduler`) and the report's header.

With loader processes (``-j N``) the augmentations draw in those processes, which MXNet forks
once and never reseeds, and batches go to whichever is free: only ``-j 0`` repeats bit for bit,
resumed or not.
"""
from mxnet import gluon

from ..errors import UsageError
from ..runcore.loop import Training
from ..seeds import epoch_seed, seed_everything


class TransferTraining(Training):
    """A §6 run on ``contexts``: a subclass builds its network with :meth:`build` and its
    loaders, calls :meth:`start` and implements :meth:`update`, :meth:`evaluate`,
    :meth:`schedule` and :meth:`scores`."""

    def __init__(self, cfg, contexts, resume_from=None):
        super().__init__(cfg, resume_from)
        self.contexts, self.title = contexts, cfg.title
        self.score_label = self.score
        seed_everything(epoch_seed(cfg.seed, -1, 0))

    def build(self, net, loaded):
        """Take the network ``net`` whose backbone came from ``loaded`` (a Backbone)."""
        self.net, self.backbone = net, loaded
        self.say("backbone %s from %s (classifier ignored: %s)"
                 % (self.cfg.backbone, loaded.path, ", ".join(loaded.ignored) or "none in the file"))

    def start(self, train_loader, params, resume_from, **sgd):
        """Epochs of ``--batches-per-epoch`` updates (at most a pass over ``train_loader``), an
        SGD trainer over ``params`` with the task's schedule and ``sgd`` settings, then the
        checkpoint ``resume_from`` if given."""
        cfg = self.cfg
        self.train_loader = train_loader
        full = len(train_loader)
        if not full:
            raise UsageError("the training set of %s is smaller than one batch; add images or "
                             "use fewer devices" % cfg.data_root)
        self.iters = cfg.batches_per_epoch = min(cfg.batches_per_epoch or full, full)
        self.trainer = gluon.Trainer(params, "sgd",
                                     dict(sgd, learning_rate=cfg.lr, wd=cfg.wd,
                                          momentum=cfg.momentum, lr_scheduler=self.schedule()),
                                     update_on_kvstore=False)
        if resume_from:
            self.restore(resume_from)

    def schedule(self):
        """The task's lr schedule over ``self.iters`` updates per epoch."""
        raise NotImplementedError

    def epoch_batches(self, epoch, start=0):
        """The loader's batches from ``start`` on: the ones before are made and dropped, so
        their random draws are taken as in the epoch that wrote the checkpoint."""
        for number, batch in enumerate(self.train_loader):
            if number >= start:
                yield batch

    def scores(self, result):
        """Markdown lines about an evaluation ``result``."""
        raise NotImplementedError

    def report(self, result, seconds):
        cfg = self.cfg
        return ["# %s" % cfg.title, "",
                "Backbone `%s` from `%s`; %d epoch(s) of %d batch(es), %.0f s in this session."
                % (cfg.backbone, cfg.backbone_params, cfg.num_epochs, cfg.batches_per_epoch,
                   seconds), ""] + self.scores(result)
