"""tools/mutation_check.py's verdicts rest on pytest's exit code in its copy of the project (1:
a test failed, the mutation is caught); with the project's pytest.ini (pytest-xdist on) a
failing run must still say 1 and name the failing test, and a passing one 0."""
import importlib.util
import os
import shutil

from cli import ROOT


def load_tool():
    spec = importlib.util.spec_from_file_location(
        "mutation_check", os.path.join(ROOT, "tools", "mutation_check.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_failing_test_is_exit_code_1_and_named_a_passing_one_0(tmp_path):
    shutil.copy(os.path.join(ROOT, "pytest.ini"), tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_tiny.py").write_text(
        "def test_passes():\n    assert True\n\n\n"
        "def test_fails():\n    assert 1 + 1 == 3\n")
    tool = load_tool()
    code, detail, _ = tool.pytest(str(tmp_path), ["tests/test_tiny.py"], timeout=600)
    assert (code, detail) == (1, "tests/test_tiny.py::test_fails")
    code, _, _ = tool.pytest(str(tmp_path), ["tests/test_tiny.py::test_passes"], timeout=600)
    assert code == 0
