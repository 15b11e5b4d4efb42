"""`gluon-tricks flops` reproduces paper Table 5 from the traced graph."""
import pytest

from gluon_tricks.flops import model_cost

from cli import one_line_error, run_cli

# Table 5 MACs as the issue pins them (paper: 3.8, 4.1, 4.3, 4.3 G; all ~25 M parameters).
TABLE5 = {"resnet50_v1": 3.9, "resnet50_v1b": 4.1, "resnet50_v1c": 4.3, "resnet50_v1d": 4.3}


@pytest.mark.parametrize("name,gmacs", sorted(TABLE5.items()))
def test_table5_macs_and_params(name, gmacs):
    cost = model_cost(name, 224)
    assert abs(cost.macs / 1e9 - gmacs) <= 0.1
    assert 25.0e6 <= cost.params <= 26.0e6


def test_resnet50_v1d_exact_parameter_count():
    assert model_cost("resnet50_v1d", 224).params == 25576264


def test_macs_scale_with_input_area():
    small, large = model_cost("resnet18_v1", 112), model_cost("resnet18_v1", 224)
    assert 3.7 < large.macs / small.macs < 4.1 and small.params == large.params


def test_cli_prints_table_including_inception_and_mobilenet():
    proc = run_cli("flops", "resnet50_v1d", "inceptionv3", "mobilenet1.0")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert rows["inceptionv3"][1] == "299" and rows["resnet50_v1d"][1] == "224"
    assert float(rows["resnet50_v1d"][3]) == pytest.approx(4.33, abs=0.01)
    assert 5.0 < float(rows["inceptionv3"][3]) < 6.0
    assert 0.5 < float(rows["mobilenet1.0"][3]) < 0.6


@pytest.mark.parametrize("args,needle", [
    (("resnet51",), "unknown model 'resnet51'; choose one of: inceptionv3"),
    (("resnet50_v1d", "--size", "8"), "input size 8 is too small for resnet50_v1d"),
    (("resnet50_v1d", "--size", "-3"), "--size must be ≥ 1, got -3"),
    (("resnet50_v1d", "--classes", "0"), "--classes must be ≥ 1, got 0"),
    (("resnet50_v1d", "--size", "big"), "argument --size: takes a whole number, got 'big'"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    assert needle in one_line_error(run_cli("flops", *args))
