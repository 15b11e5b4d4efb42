#!/usr/bin/env python
"""Mutation check: do the tests notice when a formula or a trick's hookup is broken?

Each mutation below changes one line (or one expression) of the package, given as (file, exact
original snippet, replacement); a snippet that is no longer in the file, or is there more than
once, stops the check ("snippet not found"), so a stale mutation cannot pass silently. The
package and tests are copied to a temporary folder once; each mutation is written into that copy
only, the tests meant to catch it run there (``pytest -x``), and the file is restored. The real
files are never edited.

    python tools/mutation_check.py              # all; prints the table and "N mutations, N caught"
    python tools/mutation_check.py -k mixup     # the mutations whose name contains "mixup"
    python tools/mutation_check.py --list       # names and targeted tests only
    python tools/mutation_check.py --markdown   # the table as Markdown (tests/README.md)

Run on demand, not in CI: minutes on 2 cores (9 min measured for 58, cores shared). First
the targeted tests run once unmutated (they must pass, else a "caught" would mean nothing;
--skip-baseline skips that).
Exit status 0 only if every mutation was caught.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPY = ("gluon_tricks", "tests", "recipes", "pytest.ini")

OBSERVED = "tests/test_tricks_observed.py::"
OPTIONS = "tests/test_options_observed.py::"
AUGMENT = "tests/test_augment_measured.py::"
DALI = "tests/test_dali.py::"
LOOSE = "tests/test_loose_behaviours.py::"


class Mutation(NamedTuple):
    name: str
    path: str
    original: str
    replacement: str
    tests: Tuple[str, ...]


M = Mutation
MUTATIONS = [
    # -- hookups in the training loop (gluon_tricks/classification.py) ---------------------------------
    M("no_bias_decay(net) call removed", "gluon_tricks/classification.py",
      "    if cfg.no_wd:\n        no_bias_decay(net)", "    if cfg.no_wd:\n        pass",
      (OBSERVED + "test_no_bias_decay_as_the_trainer_applies_it",)),
    M("no bias decay lists β but leaves wd_mult at 1", "gluon_tricks/classification.py",
      "            param.wd_mult = 0.0", "            param.wd_mult = 1.0",
      (OBSERVED + "test_no_bias_decay_as_the_trainer_applies_it",)),
    M("no bias decay exempts the weights too", "gluon_tricks/classification.py",
      'if param.grad_req != "null" and not name.endswith("weight"):',
      'if param.grad_req != "null":',
      (OBSERVED + "test_no_bias_decay_as_the_trainer_applies_it",)),
    M("last_gamma not passed to the model", "gluon_tricks/classification.py",
      "get_model(cfg.model, classes=cfg.classes, last_gamma=cfg.last_gamma)",
      "get_model(cfg.model, classes=cfg.classes)",
      (OBSERVED + "test_zero_gamma_is_in_the_student_at_step_0",)),
    M("--init ignored (always xavier)", "gluon_tricks/classification.py",
      "initialize(net, cfg.init, ctx=contexts)", 'initialize(net, "xavier", ctx=contexts)',
      (OPTIONS + "test_init_distribution_of_the_students_convolutions",)),
    M("label smoothing not passed to the loss", "gluon_tricks/classification.py",
      "loss = SoftmaxCrossEntropy(cfg.classes, smoothing=cfg.label_smoothing,",
      "loss = SoftmaxCrossEntropy(cfg.classes, smoothing=0.0,",
      (OBSERVED + "test_loss_of_a_step_is_the_smoothed_targets_cross_entropy",)),
    M("--smoothing-style not passed to the loss", "gluon_tricks/classification.py",
      "smoothing=cfg.label_smoothing,\n                                   style=cfg.smoothing_style)",
      "smoothing=cfg.label_smoothing,\n                                   style=\"paper\")",
      (OBSERVED + "test_loss_of_a_step_is_the_smoothed_targets_cross_entropy",)),
    M("--hard-weight not passed to distillation", "gluon_tricks/classification.py",
      "hard_weight=cfg.hard_weight, smoothing=cfg.label_smoothing,",
      "hard_weight=None, smoothing=cfg.label_smoothing,",
      (OBSERVED + "test_distillation_loss_uses_the_teachers_logits",)),
    M("--temperature not passed to distillation", "gluon_tricks/classification.py",
      "DistillationLoss(cfg.classes, temperature=cfg.temperature,",
      "DistillationLoss(cfg.classes, temperature=20.0,",
      (OBSERVED + "test_distillation_loss_uses_the_teachers_logits",)),
    M("student's logits given as the teacher's", "gluon_tricks/classification.py",
      "self.loss(o, t, r) if r is not None", "self.loss(o, t, o) if r is not None",
      (OBSERVED + "test_distillation_loss_uses_the_teachers_logits",)),
    M("mixup never applied", "gluon_tricks/classification.py",
      "        if use_mixup:\n            xs, targets = mixup(",
      "        if False:\n            xs, targets = mixup(",
      (OBSERVED + "test_mixup_is_on_then_off_for_the_last_epochs",)),
    M("mixup never switched off (--mixup-off-epoch ignored)", "gluon_tricks/classification.py",
      "use_mixup = cfg.mixup_alpha > 0 and mixup_active(epoch, cfg.num_epochs, cfg.mixup_off_epoch)",
      "use_mixup = cfg.mixup_alpha > 0",
      (OBSERVED + "test_mixup_is_on_then_off_for_the_last_epochs",)),
    M("--mixup-pairing ignored (always reverse)", "gluon_tricks/classification.py",
      "cfg.mixup_alpha, cfg.mixup_pairing, rng)", 'cfg.mixup_alpha, "reverse", rng)',
      (OBSERVED + "test_mixup_pairing_order",)),
    M("device colour block skipped", "gluon_tricks/classification.py",
      "xs = [aug(x) for aug, x in zip(self.augmenters, xs)]", "xs = list(xs)",
      (OPTIONS + "test_colour_preset_reaches_the_network",)),
    M("update summed over the batch, not averaged", "gluon_tricks/classification.py",
      "self.dist.update_batch_size(self.local_batch), self.contexts[0])",
      "1, self.contexts[0])",
      (OBSERVED + "test_first_update_moves_the_classifier_bias_by_lr_times_the_mean_gradient",)),
    M("FP16 inputs not cast to float16", "gluon_tricks/classification.py",
      'xs = [x.astype("float16") for x in xs]', "xs = list(xs)",
      (OBSERVED + "test_fp16_run_feeds_float16_and_keeps_float32_master_weights",)),
    M("FP16 without float32 master weights", "gluon_tricks/classification.py",
      '"multi_precision": cfg.fp16}', '"multi_precision": False}',
      (OBSERVED + "test_fp16_run_feeds_float16_and_keeps_float32_master_weights",)),
    # -- FP16 loss scaling (gluon_tricks/precision.py) ----------------------------------------
    M("loss scale not divided out of the update", "gluon_tricks/precision.py",
      "trainer.update(batch_size * scale)", "trainer.update(batch_size)",
      (OBSERVED + "test_fp16_run_feeds_float16_and_keeps_float32_master_weights",)),
    # -- learning-rate schedule (gluon_tricks/lr_scheduler.py) --------------------------------
    M("--lr-mode ignored (always step)", "gluon_tricks/lr_scheduler.py",
      'make_scheduler(config["lr_mode"], config["lr"]', 'make_scheduler("step", config["lr"]',
      (OBSERVED + "test_lr_of_every_update_in_metrics_jsonl",)),
    M("--warmup-epochs not passed to the schedule", "gluon_tricks/lr_scheduler.py",
      'warmup_epochs=config["warmup_epochs"]', "warmup_epochs=0",
      (OBSERVED + "test_lr_of_every_update_in_metrics_jsonl",)),
    M("warmup (k−1)·η/m for k·η/m", "gluon_tricks/lr_scheduler.py",
      "return k * base_lr / warmup_updates", "return (k - 1) * base_lr / warmup_updates",
      ("tests/test_lr_scheduler.py",)),
    M("cosine t counted from 1 (k − m for k − m − 1)", "gluon_tricks/lr_scheduler.py",
      "t, total = k - m - 1, self.total_updates - m", "t, total = k - m, self.total_updates - m",
      ("tests/test_lr_scheduler.py",)),
    M("cosine T includes the warmup", "gluon_tricks/lr_scheduler.py",
      "t, total = k - m - 1, self.total_updates - m", "t, total = k - m - 1, self.total_updates",
      ("tests/test_lr_scheduler.py",)),
    M("step decay one update early", "gluon_tricks/lr_scheduler.py",
      "tuple(e * iters_per_epoch + 1 for e in", "tuple(e * iters_per_epoch for e in",
      ("tests/test_lr_scheduler.py",)),
    # -- losses (gluon_tricks/loss.py) ---------------------------------------------------------
    M("label smoothing ε/K for ε/(K−1) (paper style)", "gluon_tricks/loss.py",
      "(1 - target) * (eps / (classes - 1))", "(1 - target) * (eps / classes)",
      ("tests/test_loss.py",)),
    M("ε/K for ε/(K−1), against the distillation tests", "gluon_tricks/loss.py",
      "(1 - target) * (eps / (classes - 1))", "(1 - target) * (eps / classes)",
      ("tests/test_loss.py::test_distillation_matches_eq6",)),
    M("ε/K for ε/(K−1), against a training step's loss", "gluon_tricks/loss.py",
      "(1 - target) * (eps / (classes - 1))", "(1 - target) * (eps / classes)",
      (OBSERVED + "test_loss_of_a_step_is_the_smoothed_targets_cross_entropy",)),
    M("distillation without T²", "gluon_tricks/loss.py",
      "soft = t * t * _cross_entropy(", "soft = t * _cross_entropy(",
      ("tests/test_loss.py",)),
    M("teacher softmax without the temperature", "gluon_tricks/loss.py",
      'F.softmax(F.stop_gradient(F.cast(teacher, "float32")) / t, axis=-1)',
      'F.softmax(F.stop_gradient(F.cast(teacher, "float32")), axis=-1)',
      ("tests/test_loss.py",)),
    M("hard weight on the wrong term", "gluon_tricks/loss.py",
      "return (1 - self._hard_weight) * soft + self._hard_weight * hard",
      "return self._hard_weight * soft + (1 - self._hard_weight) * hard",
      ("tests/test_loss.py",)),
    # -- mixup (gluon_tricks/data/mixup.py) ----------------------------------------------------
    M("mixup labels not mixed", "gluon_tricks/data/mixup.py",
      "targets = lam * onehot + (1.0 - lam) * mx.nd.take(", "targets = onehot + 0 * mx.nd.take(",
      ("tests/test_mixup.py",)),
    M("mixup off one epoch late", "gluon_tricks/data/mixup.py",
      "return epoch < num_epochs - off_epochs", "return epoch <= num_epochs - off_epochs",
      (OBSERVED + "test_mixup_is_on_then_off_for_the_last_epochs",)),
    # -- augmentation (gluon_tricks/data/augment.py, record.py) -------------------------------
    M("PCA eigenvectors transposed", "gluon_tricks/data/augment.py",
      "pca = np.array(PCA_EIGVEC) * np.array(PCA_EIGVAL)",
      "pca = np.array(PCA_EIGVEC).T * np.array(PCA_EIGVAL)",
      (AUGMENT + "test_device_block_matches_an_independent_numpy_version",)),
    M("hue turn (h − 1)·90° for (h − 1)·180°", "gluon_tricks/data/augment.py",
      "angle = (hue - 1.0) * np.pi", "angle = (hue - 1.0) * np.pi / 2",
      (AUGMENT + "test_device_block_matches_an_independent_numpy_version",)),
    M("paper preset without hue", "gluon_tricks/data/augment.py",
      "_PAPER = dict(brightness=0.4, contrast=0.0, saturation=0.4, hue=0.4, pca_noise=0.1)",
      "_PAPER = dict(brightness=0.4, contrast=0.0, saturation=0.4, hue=0.0, pca_noise=0.1)",
      (OPTIONS + "test_colour_preset_reaches_the_network",)),
    M("smallest crop area 0.25 for 0.08", "gluon_tricks/data/recorditer.py",
      "min_random_area=0.08", "min_random_area=0.25",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("crop aspect ratio [1/2, 2] for [3/4, 4/3]", "gluon_tricks/data/recorditer.py",
      "min_aspect_ratio=3.0 / 4.0, max_aspect_ratio=4.0 / 3.0",
      "min_aspect_ratio=0.5, max_aspect_ratio=2.0",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("no horizontal flip", "gluon_tricks/data/recorditer.py",
      "rand_mirror=True, shuffle=True", "rand_mirror=False, shuffle=True",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("decoder presets all get the paper's colour settings", "gluon_tricks/data/recorditer.py",
      "kwargs.update(colour_kwargs(aug), **NORMALIZE)",
      'kwargs.update(colour_kwargs("paper-decoder"), **NORMALIZE)',
      (OPTIONS + "test_colour_preset_reaches_the_network",)),
    # -- the DALI backends' order and draws (gluon_tricks/data/sampling.py) --------------------
    M("DALI crops: smallest area 0.25 for 0.08", "gluon_tricks/data/sampling.py",
      "MIN_AREA, MAX_AREA = 0.08, 1.0", "MIN_AREA, MAX_AREA = 0.25, 1.0",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("DALI crops: aspect ratio [1/2, 2] for [3/4, 4/3]", "gluon_tricks/data/sampling.py",
      "MIN_RATIO, MAX_RATIO = 3.0 / 4.0, 4.0 / 3.0", "MIN_RATIO, MAX_RATIO = 0.5, 2.0",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("DALI: no horizontal flip", "gluon_tricks/data/sampling.py",
      "FLIP_P = 0.5", "FLIP_P = 0.0",
      (AUGMENT + "test_random_resized_crop_and_flip_as_the_paper_says",)),
    M("DALI: every epoch in file order", "gluon_tricks/data/sampling.py",
      "return rng.permutation(count)", "return np.arange(count)",
      (DALI + "test_every_epoch_is_a_permutation_of_the_whole_set",)),
    M("DALI: every batch of an epoch draws alike", "gluon_tricks/data/sampling.py",
      "[_DRAWS, seed, epoch, rank, batch]", "[_DRAWS, seed, epoch, rank]",
      (DALI + "test_within_an_epoch_every_image_draws_its_own_crop",)),
    M("DALI: every worker reads the first part", "gluon_tricks/data/sampling.py",
      "mine = order[part_index::num_parts]", "mine = order[0::num_parts]",
      (DALI + "test_two_workers_read_every_record_once_per_epoch",)),
    M("DALI: the fallback window at the corner", "gluon_tricks/data/sampling.py",
      "x[fallback] = (widths[fallback] - w[fallback]) // 2", "x[fallback] = 0",
      (DALI + "test_no_fitting_window_falls_back_to_the_largest_centred_one",)),
    # -- zero γ, linear scaling ----------------------------------------------------------------
    M("zero γ on every BN of a block, not only the last", "gluon_tricks/models/resnet.py",
      'gamma_initializer="zeros" if last and last_gamma else "ones"',
      'gamma_initializer="zeros" if last_gamma else "ones"',
      (OBSERVED + "test_zero_gamma_is_in_the_student_at_step_0",)),
    M("linear scaling ignores the total batch", "gluon_tricks/config.py",
      "cfg.lr = cfg.lr_per_256 * cfg.total_batch_size / 256.0", "cfg.lr = cfg.lr_per_256",
      ("tests/test_config.py::test_world_size_enters_total_batch_and_linear_scaling",)),
    # -- initialisation and presets ------------------------------------------------------------
    M("xavier Gaussian for uniform", "gluon_tricks/models/init.py",
      'mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)',
      'mx.init.Xavier(rnd_type="gaussian", factor_type="avg", magnitude=3)',
      (OPTIONS + "test_init_distribution_of_the_students_convolutions",)),
    M("xavier on fan-in only", "gluon_tricks/models/init.py",
      'mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)',
      'mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=3)',
      (OPTIONS + "test_init_distribution_of_the_students_convolutions",)),
    M("--preset gluoncv keeps xavier", "gluon_tricks/config.py",
      'smoothing_style="gluoncv", init="msra",', 'smoothing_style="gluoncv", init="xavier",',
      (OPTIONS + "test_init_distribution_of_the_students_convolutions",)),
    # -- behaviours issue 25 found loose: resume, FP16 overflow, records, fine-tuning ----------
    M("resume forgets the best top-1", "gluon_tricks/runcore/loop.py",
      'self.best = state.get("best", state.get("best_top1"))', "self.best = None",
      (LOOSE + "test_resume_across_a_better_then_worse_pair_keeps_the_best_checkpoint",)),
    M("resume keeps the saved record paths under a new --data-dir",
      "gluon_tricks/config.py", "for name in moved_paths(given):", "for name in []:",
      (LOOSE + "test_resume_reads_the_records_where_a_new_data_dir_says",)),
    M("FP16 step applied when any one gradient dtype is finite", "gluon_tricks/precision.py",
      "return all(bool(f.asscalar()) for f in flags)",
      "return any(bool(f.asscalar()) for f in flags)",
      (LOOSE + "test_fp16_step_is_skipped_when_only_one_gradient_dtype_overflows",)),
    M("prepare --quality ignored (always 95)", "gluon_tricks/datasets/pack.py",
      "return codec.encode_jpeg(image, options.quality), warning",
      "return codec.encode_jpeg(image, 95), warning",
      (LOOSE + "test_prepare_stores_jpegs_at_the_quality_asked",)),
    M("payload CRC-32 over the first KiB only", "gluon_tricks/data/recordfile.py",
      "return CHECKSUM_TAG | zlib.crc32(body)", "return CHECKSUM_TAG | zlib.crc32(body[:1024])",
      (LOOSE + "test_check_rec_names_a_record_damaged_at_its_last_image_byte",)),
    M("--lr-mult-body applied to the classifier too", "gluon_tricks/finetune.py",
      "if not weights.is_classifier(name):", "if True:",
      (LOOSE + "test_lr_mult_body_scales_every_update_but_the_classifiers",)),
    M("fine-tuning never copies the classifier", "gluon_tricks/weights.py",
      "for key, param in (params if fits else body).items():",
      "for key, param in body.items():",
      (LOOSE + "test_finetuning_with_the_files_class_count_starts_from_its_classifier",)),
]


class StaleMutation(Exception):
    pass


def mutated(text, mutation):
    """``text`` with the mutation applied; StaleMutation unless the snippet occurs exactly once."""
    count = text.count(mutation.original)
    if count != 1:
        raise StaleMutation("%s: snippet not found exactly once in %s (%d times): %r"
                            % (mutation.name, mutation.path, count, mutation.original))
    return text.replace(mutation.original, mutation.replacement)


def make_copy(folder):
    for name in COPY:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(folder, name),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
        else:
            shutil.copy2(src, os.path.join(folder, name))


def pytest(folder, tests, timeout):
    """Run ``tests`` in the copy in one process (``-n 0``: under pytest-xdist, ``-x`` ends a
    failing run with exit code 2, "interrupted", not 1); returns (exit code, first failing test
    or error line, seconds)."""
    env = dict(os.environ, PYTHONPATH=folder, PYTHONDONTWRITEBYTECODE="1")
    start = time.time()
    cmd = [sys.executable, "-m", "pytest", "-n", "0", "-x", "-q", "-rf", "-p", "no:cacheprovider",
           *tests]
    try:
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ds" % timeout, time.time() - start
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    detail = failed[0] if failed else (proc.stdout.strip().splitlines() or [""])[-1]
    return proc.returncode, detail, time.time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="select", default="", help="only mutations whose name has this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not first check that the targeted tests pass unmutated")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per pytest run")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.select.lower() in m.name.lower()]
    for m in chosen:                                   # stale snippets fail before any run
        with open(os.path.join(ROOT, m.path), encoding="utf-8") as f:
            mutated(f.read(), m)
    if args.list:
        for m in chosen:
            print("%-55s %s  ->  %s" % (m.name, m.path, " ".join(m.tests)))
        return 0
    folder = tempfile.mkdtemp(prefix="mutation-check-")
    try:
        make_copy(folder)
        if not args.skip_baseline:
            targets = sorted({t for m in chosen for t in m.tests})
            code, detail, seconds = pytest(folder, targets, args.timeout * 2)
            if code != 0:
                print("the targeted tests fail without any mutation (%s); fix them first" % detail)
                return 2
            print("baseline: the %d targeted test selections pass unmutated (%.0fs)"
                  % (len(targets), seconds), flush=True)
        rows = []
        for i, m in enumerate(chosen, 1):
            path = os.path.join(folder, m.path)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(mutated(original, m))
            try:
                code, detail, seconds = pytest(folder, m.tests, args.timeout)
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
            verdict = "caught" if code == 1 else ("SURVIVED" if code == 0 else "ERROR (%s)" % code)
            rows.append((m, verdict, detail, seconds))
            print("[%d/%d] %-8s %-52s %s (%.0fs)" % (i, len(chosen), verdict, m.name, detail,
                                                     seconds), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    caught = sum(1 for _, verdict, _, _ in rows if verdict == "caught")
    if args.markdown:
        print("\n| # | mutation | file | caught by |\n|---|---|---|---|")
        for i, (m, verdict, detail, _) in enumerate(rows, 1):
            shown = detail if verdict == "caught" else "**%s** %s" % (verdict, detail)
            print("| %d | %s | `%s` | `%s` |" % (i, m.name, m.path, shown))
    print("\n%d mutations, %d caught" % (len(rows), caught))
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StaleMutation as err:
        print(str(err), file=sys.stderr)
        sys.exit(2)
