"""``bash tools/install.sh --system``: install gluon-tricks into a Python that already has MXNet
(NVIDIA's NGC MXNet container, or an MXNet built from source) without touching it.

Run with that Python. It installs the package (editable) with its pure-Python dependencies and
the test tools, and never replaces, adds or removes MXNet, Horovod, DALI, NumPy or a CUDA package
(``nvidia-*``, ``cuda-*``, ``cupy*``, ``tensorrt*``): those installed are pinned to their
versions, the project's own pins for them (constraints.txt) are left out, and a resolution
that would need any other version is refused in one line before anything is installed. Their
``pip freeze`` lines are compared before and after (``--freeze`` prints them).
"""
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTECTED = re.compile(r"^(mxnet.*|horovod|numpy|nvidia-.*|cuda-.*|cupy.*|tensorrt.*)$")
WHAT = "MXNet, Horovod, DALI, NumPy and CUDA packages"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


class Refused(Exception):
    """One line for the user; nothing was installed."""


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def protected_freeze():
    """{name: freeze line} of the protected distributions installed here, from ``pip freeze``."""
    out = subprocess.run(PIP + ["freeze", "--all"], capture_output=True, text=True, check=True).stdout
    lines = {}
    for line in out.splitlines():
        name = canonical(re.split(r"\s*(?:==|@|===)\s*", line.strip(), maxsplit=1)[0])
        if PROTECTED.match(name):
            lines[name] = line.strip()
    return lines


def installed_versions():
    """{canonical name: version} of every installed distribution."""
    return {canonical(d.metadata["Name"] or ""): d.version
            for d in importlib.metadata.distributions()}


def constraints(versions):
    """The project's constraints without its pins of protected packages, then every installed
    protected package pinned to its version."""
    kept = []
    with open(os.path.join(ROOT, "constraints.txt"), encoding="utf-8") as handle:
        for line in handle:
            requirement = line.split("#", 1)[0].strip()
            name = re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0]
            if requirement and not PROTECTED.match(canonical(name)):
                kept.append(requirement)
    pins = ["%s==%s" % (name, version) for name, version in sorted(versions.items())
            if PROTECTED.match(name)]
    return kept + pins


def conflict(output, versions):
    """One line from pip's resolution failure: which dependency wants which protected package."""
    for line in output.splitlines():
        found = re.match(r"\s*(\S+ \S+) depends on (([A-Za-z0-9_.-]+)\S*.*)$", line)
        if found and canonical(found.group(3)) in versions and PROTECTED.match(canonical(found.group(3))):
            name = canonical(found.group(3))
            return ("%s needs %s, but this environment's %s %s stays (it belongs to the installed "
                    "MXNet); nothing was installed" % (found.group(1), found.group(2).strip(), name,
                                                       versions[name]))
    errors = [line.strip() for line in output.splitlines() if line.startswith("ERROR")]
    return ("pip cannot install gluon-tricks without changing the %s here (%s); nothing was "
            "installed" % (WHAT, errors[0] if errors else "see pip's output above"))


def main():
    if importlib.util.find_spec("mxnet") is None:
        raise Refused("%s has no MXNet; --system is for a Python that already has one (NGC's "
                      "MXNet container); elsewhere use bash tools/install.sh" % sys.executable)
    versions = installed_versions()
    before = protected_freeze()
    with tempfile.TemporaryDirectory() as tmp:
        pinned = os.path.join(tmp, "constraints.txt")
        with open(pinned, "w", encoding="utf-8") as handle:
            handle.write("\n".join(constraints(versions)) + "\n")
        report = os.path.join(tmp, "report.json")
        proc = subprocess.run(PIP + ["install", "--dry-run", "--report", report, "-c",
                                     pinned, "-e", "%s[test]" % ROOT],
                              capture_output=True, text=True)
        if proc.returncode:     # pip explains a conflict on stdout, its errors go to stderr
            raise Refused(conflict(proc.stdout + proc.stderr, versions))
        with open(report, encoding="utf-8") as handle:
            planned = json.load(handle).get("install", [])
        touched = ["%s %s" % (p["metadata"]["name"], p["metadata"]["version"]) for p in planned
                   if PROTECTED.match(canonical(p["metadata"]["name"]))]
        if touched:
            raise Refused("installing gluon-tricks here would also install %s; the %s stay as "
                          "they are, so nothing was installed" % (", ".join(touched), WHAT))
        print("install.sh --system: installing gluon-tricks and %d dependencies into %s"
              % (len(planned) - 1, sys.executable), file=sys.stderr, flush=True)
        subprocess.run(PIP + ["install", "--quiet", "-c", pinned, "-e", "%s[test]" % ROOT],
                       check=True)
    after = protected_freeze()
    if after != before:
        changed = sorted(set(before.values()) ^ set(after.values()))
        raise Refused("pip changed the %s: %s" % (WHAT, ", ".join(changed)))
    print("install.sh --system: %s unchanged (pip freeze before and after: %s)"
          % (WHAT, ", ".join(before[name] for name in sorted(before)) or "none installed"),
          file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] == ["--freeze"]:        # the lines compared, for CI's own check
        print("\n".join(line for _, line in sorted(protected_freeze().items())))
        sys.exit(0)
    try:
        main()
    except Refused as refusal:
        print("install.sh --system: %s" % refusal, file=sys.stderr)
        sys.exit(1)
    except subprocess.CalledProcessError as err:
        print("install.sh --system: %s failed with exit code %d (see its output above)"
              % (" ".join(err.cmd[2:5]), err.returncode), file=sys.stderr)
        sys.exit(1)
