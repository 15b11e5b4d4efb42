"""The typed configuration: what --print-config resolves, and the one-line errors."""
import dataclasses
import json

import pytest

from gluon_tricks.config import TrainConfig, check_resume, resolve, world_size
from gluon_tricks.errors import UsageError

from cli import one_line_error, run_cli

REQUIRED_KEYS = {"model", "num_epochs", "total_batch_size", "lr", "lr_mode", "warmup_epochs",
                 "lr_decay_epochs", "lr_decay", "optimizer", "momentum", "wd", "no_wd",
                 "last_gamma", "label_smoothing", "mixup_alpha", "mixup_off_epoch", "teacher",
                 "temperature", "hard_weight", "dtype", "input_size", "kvstore", "aug", "init"}


def print_config(*args):
    proc = run_cli("train", "--print-config", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_print_config_resolves_the_efficient_recipe():
    cfg = print_config("--model", "resnet50_v1d", "--gpus", "0,1,2,3,4,5,6,7", "--batch-size",
                       "128", "--lr-per-256", "0.1", "--lr-mode", "cosine", "--warmup-epochs",
                       "5", "--dtype", "float16", "--last-gamma", "--no-wd", "--label-smoothing",
                       "--mixup", "--mixup-off-epoch", "10", "--num-epochs", "200")
    assert REQUIRED_KEYS <= set(cfg)
    assert cfg["total_batch_size"] == 1024 and cfg["lr"] == pytest.approx(0.4)
    assert cfg["label_smoothing"] == 0.1 and cfg["mixup_alpha"] == 0.2
    assert cfg["mixup_off_epoch"] == 10 and cfg["optimizer"] == "nag"
    assert (cfg["dtype"], cfg["last_gamma"], cfg["no_wd"]) == ("float16", True, True)


def test_print_config_defaults_are_the_paper_baseline():
    cfg = print_config()
    assert cfg["init"] == "xavier" and cfg["aug"] == "paper" and cfg["lr_mode"] == "step"
    assert cfg["lr_decay_epochs"] == [30, 60, 90] and cfg["num_epochs"] == 120
    assert cfg["label_smoothing"] == 0 and cfg["mixup_alpha"] == 0 and cfg["teacher"] is None
    assert cfg["smoothing_style"] == "paper" and cfg["momentum"] == 0.9


def test_inception_defaults_to_299_and_classes_come_from_the_classes_file(tmp_path):
    (tmp_path / "train.classes").write_text("cat\ndog\nfox\n")
    cfg = print_config("--model", "inceptionv3", "--data-dir", str(tmp_path))
    assert cfg["input_size"] == 299 and cfg["classes"] == 3
    assert cfg["rec_train"].endswith("train.rec") and cfg["rec_val_idx"].endswith("val.idx")


def test_gluoncv_record_flags_are_accepted(tmp_path):
    cfg = print_config("--rec-train", str(tmp_path / "a.rec"), "--rec-val", str(tmp_path / "b.rec"))
    assert cfg["rec_train_idx"].endswith("a.idx") and cfg["rec_val_idx"].endswith("b.idx")


def test_world_size_enters_total_batch_and_linear_scaling():
    # A total of 512, not 256: at 256 the rule gives back 0.1, so a missing scaling would pass.
    cfg = resolve(TrainConfig(model="resnet18_v1", batch_size=64, lr_per_256=0.1,
                              kvstore="horovod"), env={"HOROVOD_SIZE": "8"})
    assert cfg.num_workers == 8 and cfg.total_batch_size == 512 and cfg.lr == pytest.approx(0.2)
    assert world_size("dist_sync", {"DMLC_NUM_WORKER": "3"}) == 3
    assert world_size("device", {"HOROVOD_SIZE": "4"}) == 1


@pytest.mark.parametrize("args,needle", [
    (("--model", "resnet51"), "unknown model 'resnet51'"),
    (("--warmup-epochs", "10", "--num-epochs", "5"), "--warmup-epochs (10) must be smaller"),
    (("--loss-scale", "big"), "--loss-scale takes 'dynamic' or a positive number"),
    (("--teacher", "resnet152_v1d"), "--teacher needs --teacher-params"),
    (("--gpus", "a,b"), "--gpus takes distinct device numbers"),
    (("--lr-decay-epoch", "0,30"), "--lr-decay-epoch takes positive epoch numbers"),
    (("--label-smoothing", "1.5"), "--label-smoothing must be in [0, 1)"),
    (("--batch-size", "0"), "--batch-size must be > 0"),
    (("--input-size", "16"), "--input-size must be at least 32"),
    (("--model", "inceptionv3", "--input-size", "224"), "input size 224 is too small for inceptionv3"),
    (("--mixup", "--mixup-alpha", "0"), "--mixup-alpha must be > 0"),
    (("--kvstore", "ring"), "--kvstore 'ring' is not valid; choose one of: device"),
    (("--lr-mode", "linear"), "--lr-mode 'linear' is not valid; choose one of: step, cosine"),
    (("--preset", "timm"), "--preset 'timm' is not valid; choose one of: paper, gluoncv"),
    (("--recipe", "table9/x"), "unknown recipe 'table9/x'"),
    (("--teacher", "resnet51", "--teacher-params", "t.params"), "unknown teacher model 'resnet51'"),
    (("--cpus", "0"), "--cpus must be between 1 and 1024"),
    (("--num-gpus", "-1"), "--num-gpus must be between 0 and 1024"),
    (("--mode", "hybrid", "--model", "resnet51"), "unknown model 'resnet51'"),
    (("--smoothing-styl", "paper"), "unrecognized arguments: --smoothing-styl"),
])
def test_bad_flags_are_one_line_exit_2(args, needle):
    assert needle in one_line_error(run_cli("train", "--print-config", *args))


def test_the_last_device_flag_wins():
    assert print_config("--gpus", "0", "--cpus", "2")["devices"] == "cpu:2"
    assert print_config("--cpus", "2", "--num-gpus", "3")["devices"] == "gpu:0,1,2"
    cfg = print_config("--num-gpus", "4", "--gpus", "1,3")
    assert (cfg["devices"], cfg["num_devices"]) == ("gpu:1,3", 2)
    assert print_config("--num-gpus", "0")["devices"] == "cpu:1"


def test_preset_gluoncv_switches_every_deviation_and_flags_still_win():
    paper = print_config()
    cfg = print_config("--preset", "gluoncv")
    assert paper["preset"] == "paper" and cfg["preset"] == "gluoncv"
    assert (paper["aug"], paper["smoothing_style"], paper["init"], paper["mixup_pairing"],
            paper["hard_weight"]) == ("paper", "paper", "xavier", "random", None)
    assert (cfg["aug"], cfg["smoothing_style"], cfg["init"], cfg["mixup_pairing"],
            cfg["hard_weight"]) == ("gluoncv", "gluoncv", "msra", "reverse", 0.5)
    assert print_config("--init", "xavier", "--preset", "gluoncv")["init"] == "xavier"


def test_every_flag_is_declared_once_on_its_field():
    """Each TrainConfig option field has one flag in the generated parser, and every field a
    user sets has a flag (the derived ones excepted)."""
    import argparse
    from gluon_tricks import options
    from gluon_tricks.commands.train import configure
    parser = argparse.ArgumentParser(allow_abbrev=False)
    configure(parser)
    dests = {a.dest for a in parser._actions}
    fields = {f.name for f, _ in options.options_of(TrainConfig)}
    shared = {"devices", "max_image_pixels"}    # flags declared for several commands
    derived = {"num_devices", "num_workers", "total_batch_size", "optimizer"}
    assert fields | shared | derived == {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields | shared <= dests


def test_choice_lists_are_the_owning_modules():
    from gluon_tricks import loss, lr_scheduler, options
    from gluon_tricks.data import BACKENDS, augment, mixup
    from gluon_tricks.distributed import KVSTORES
    from gluon_tricks.models.init import INITS
    from gluon_tricks.precision import DTYPES
    choices = {f.name: opt.choice_list() for f, opt in options.options_of(TrainConfig)}
    assert choices["smoothing_style"] == tuple(loss.STYLES)
    assert choices["mixup_pairing"] == tuple(mixup.PAIRINGS)
    assert choices["aug"] == tuple(augment.PRESETS)
    assert choices["lr_mode"] == tuple(lr_scheduler.MODES)
    assert choices["init"] == tuple(INITS) and choices["dtype"] == tuple(DTYPES)
    assert choices["kvstore"] == tuple(KVSTORES) and choices["data_backend"] == tuple(BACKENDS)


def test_resolve_is_the_validator_for_programmatic_configs_too():
    with pytest.raises(UsageError, match="--smoothing-style 'timm' is not valid"):
        resolve(TrainConfig(smoothing_style="timm"))
    with pytest.raises(UsageError, match="--temperature must be > 0"):
        resolve(TrainConfig(temperature=0))
    with pytest.raises(UsageError, match="--gpus takes distinct device numbers"):
        resolve(TrainConfig(devices="gpu:0,0"))


def test_resume_accepts_checkpoints_written_before_a_field_existed():
    saved = resolve(TrainConfig(model="resnet18_v1", batch_size=8)).to_dict()
    for key in ("lr_decay_period", "num_training_samples", "preset", "recipe", "logging_file"):
        del saved[key]
    check_resume(saved, resolve(TrainConfig(model="resnet18_v1", batch_size=8)).to_dict())


def test_training_without_data_says_how_to_get_some(tmp_path):
    line = one_line_error(run_cli("train", "--save-dir", tmp_path / "run"))
    assert "no data given" in line and "gluon-tricks prepare" in line


def test_resume_check_names_each_unsafe_difference_and_allows_safe_ones():
    saved = resolve(TrainConfig(model="resnet18_v1", batch_size=8)).to_dict()
    moved = dict(saved, save_dir="elsewhere", log_interval=7)
    check_resume(saved, moved)
    other = dict(saved, model="resnet34_v1", classes=10)
    with pytest.raises(UsageError, match=r"model \(checkpoint: resnet18_v1, now: resnet34_v1\)"
                                         r".*classes.*only save_dir"):
        check_resume(saved, other)


def test_resume_with_another_world_size_is_refused_naming_workers_and_total_batch():
    """Two dist_sync workers' checkpoint resumed by three: the total batch, and so every later
    number, would differ (README "Preemptible machines"); by two again it is accepted."""
    def config(workers):
        env = {"DMLC_ROLE": "worker", "DMLC_NUM_WORKER": workers}
        return resolve(TrainConfig(model="resnet18_v1", batch_size=8, kvstore="dist_sync"),
                       env).to_dict()
    check_resume(config("2"), config("2"))
    with pytest.raises(UsageError, match=r"num_workers \(checkpoint: 2, now: 3\); "
                                         r"total_batch_size \(checkpoint: 16, now: 24\)"):
        check_resume(config("2"), config("3"))
