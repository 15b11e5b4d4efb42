"""``gluon-tricks bench train`` runs on tiny settings and prints every row (no timing checks)."""
from cli import one_line_error, run_cli


def test_bench_train_prints_both_comparisons(tmp_path):
    from gluon_tricks.datasets.demo import make_demo_data
    paths = make_demo_data(str(tmp_path / "demo"), classes=3, train_per_class=4, val_per_class=1,
                           threads=2, progress=False)
    proc = run_cli("bench", "train", "--rec", paths["train_rec"], "--model", "resnet18_v1b",
                   "--input-size", 32, "--batch-size", 4, "--steps", 2, "--warmup", 1,
                   "--repeats", 2, "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| (")]
    assert [row.split()[1] for row in rows] == ["(i-a)", "(i-b)", "(ii-a)", "(ii-b)", "(ii-c)"]
    assert "ours ÷ plain = " in proc.stdout and ".rec ÷ synthetic = " in proc.stdout
    assert "round 2/2" in proc.stdout


def test_bench_train_usage_errors(tmp_path):
    line = one_line_error(run_cli("bench", "train", "--rec", tmp_path / "missing.rec"))
    assert "missing.rec" in line
    line = one_line_error(run_cli("bench", "train", "--rec", tmp_path / "missing.rec",
                                  "--steps", 0))
    assert "--steps" in line
