"""``bash tools/install.sh --system`` (``tools/system_install.py``) refuses, in one line and before
installing anything, what would change the MXNet environment it installs into. pip itself
resolves, offline (``PIP_NO_INDEX``), in a new virtualenv that sees this environment's packages
(MXNet, NumPy, Horovod, ...) as installed ones it must not change. The whole install, with
downloads, runs in CI's stand-in for NGC's container (``tools/simulate_ngc.sh``)."""
import os
import shutil
import subprocess
import sys

import numpy as np

from cli import ROOT, one_line_error


def scratch_python(tmp_path, share):
    """A new virtualenv from this interpreter's base Python; with ``share``, this environment's
    site-packages are visible in it through a ``.pth`` file."""
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=300)
    if share:
        site = subprocess.run([str(venv / "bin" / "python"), "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        shared = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
        with open(os.path.join(site, "shared.pth"), "w") as handle:
            handle.write("\n".join(shared) + "\n")
    return str(venv / "bin" / "python")


def project_copy(tmp_path, needs=None):
    """A copy of the project to install; ``needs`` is one more requirement in setup.py."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("setup.py", "README.md", "constraints.txt"):
        shutil.copy(os.path.join(ROOT, name), copy / name)
    for name in ("gluon_tricks", "tools"):
        shutil.copytree(os.path.join(ROOT, name), copy / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if needs:
        setup = (copy / "setup.py").read_text()
        (copy / "setup.py").write_text(setup.replace('COMMON = [\n', 'COMMON = [\n    "%s",\n' % needs))
    return copy


def system_install(python, project, *args):
    env = dict(os.environ, PIP_NO_INDEX="1")
    return subprocess.run([python, str(project / "tools" / "system_install.py"), *args],
                          capture_output=True, text=True, timeout=600, env=env, cwd=project)


def test_a_dependency_needing_a_newer_numpy_is_refused_before_anything_is_installed(tmp_path):
    python = scratch_python(tmp_path, share=True)
    project = project_copy(tmp_path, needs="numpy>=2")
    before = system_install(python, project, "--freeze").stdout
    assert "numpy==%s" % np.__version__ in before.splitlines()
    line = one_line_error(system_install(python, project), code=1)
    assert line == ("install.sh --system: gluon-tricks[test] 0.1.0 needs numpy>=2, but this "
                    "environment's numpy %s stays (it belongs to the installed MXNet); nothing was "
                    "installed" % np.__version__)
    assert system_install(python, project, "--freeze").stdout == before
    installed = subprocess.run([python, "-m", "pip", "list", "--local", "--format", "freeze"],
                               capture_output=True, text=True, check=True).stdout
    assert "gluon-tricks" not in installed


def test_a_python_without_mxnet_is_refused(tmp_path):
    python = scratch_python(tmp_path, share=False)
    line = one_line_error(system_install(python, project_copy(tmp_path)), code=1)
    assert line.startswith("install.sh --system: %s has no MXNet" % python)
    assert "bash tools/install.sh" in line


def test_system_takes_no_other_option():
    proc = subprocess.run(["bash", os.path.join(ROOT, "tools", "install.sh"), "--system", "--gpu"],
                          capture_output=True, text=True, timeout=60)
    assert one_line_error(proc, code=2) == "install.sh: --system takes no other option"
