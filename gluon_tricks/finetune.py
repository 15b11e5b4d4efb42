"""Fine-tuning: start a run from trained weights instead of the §2.1 initialisation, and train
the body at a lower lr than the classifier (the habit of GluonCV's fine-tuning tutorial).

The weights are a GluonCV zoo file, a checkpoint's model.params or a run folder's best
checkpoint (``--pretrained``), or ``--model``'s zoo file from GluonCV's model store
(``--use-pretrained``). They are read once, at the start: a resumed run takes its checkpoint's.
"""
from . import framework, weights, zoo


def pretrained_path(cfg):
    """The ``.params`` file a run starts from (``cfg.pretrained`` or the model store's)."""
    if cfg.use_pretrained:
        return zoo.download_zoo_file(cfg.model, zoo.store_folder(),
                                     then="run again (or pass the file with --pretrained FILE)")
    return weights.resolve_params(cfg.pretrained, role="pretrained", flag="--pretrained")


def start_from(net, cfg):
    """Load the starting weights into the initialised ``net`` (every array but the classifier
    strictly; the classifier too when the class counts agree); returns the line saying what
    was loaded."""
    path = pretrained_path(cfg)
    if weights.load_all_but_classifier(net, path, cfg.model).classifier:
        return "starting from %s (every parameter, the classifier's %d classes included)" % (
            path, cfg.classes)
    return ("starting from %s: every parameter but the classifier, which is re-initialised "
            "(--init %s) for %d classes (the file's has %s)"
            % (path, cfg.init, cfg.classes, weights.classifier_classes(path)))


def set_body_lr_mult(net, mult):
    """``lr_mult = mult`` on every parameter but the classifier's: the body learns at mult × the
    scheduled lr, the classifier at the lr itself."""
    for name, param in framework.structural_params(net).items():
        if not weights.is_classifier(name):
            param.lr_mult = mult
