"""Never overwrite: every command that writes checks its outputs here before it writes anything.

A command may replace only what it made in the same invocation (a run folder is claimed by
:meth:`gluon_tricks.runcore.folder.RunFolder.claim`). Anything already at an output
path is refused with one line naming the path and the choices (a new path, ``--resume`` for a
run folder, or an explicit ``--overwrite``). Read-only places and files standing where a folder
must go are refused the same way, and folders a failed command created are removed again.
"""
import contextlib
import errno
import os

from .errors import UsageError

def _nearest_existing(path):
    """``path`` or its closest existing ancestor."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_folder(path, flag):
    """``path`` is, or can become, a folder this process may write into; UsageError otherwise.

    Nothing is created. Root ignores permission bits, but not a read-only file system.
    """
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UsageError("%s %s: %s is a file, not a folder; choose a folder path"
                         % (flag, path, existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError("%s %s: %s is read-only here; choose a writable folder"
                         % (flag, path, existing))


def refuse_existing(paths, flag, overwrite=False, resume_hint=False):
    """Refuse when any of ``paths`` exists (unless ``overwrite``): one line naming the first."""
    found = [p for p in paths if os.path.lexists(p)]
    if not found or overwrite:
        return found
    choices = "choose a new %s" % flag
    if resume_hint:
        choices += ", continue it with --resume %s" % os.path.dirname(found[0])
    raise UsageError("%s already exists and this command did not make it; %s, or pass "
                     "--overwrite to replace it" % (found[0], choices))


def check_files(paths, flag, overwrite=False):
    """Outputs ``paths`` (files) may be written: their folder is writable, none of them exists
    unless ``overwrite``, and none of them is a folder."""
    for path in paths:
        check_folder(os.path.dirname(os.path.abspath(path)), flag)
        if os.path.isdir(path):
            raise UsageError("%s %s: %s is a folder, not a file; choose another path"
                             % (flag, path, path))
    refuse_existing(paths, flag, overwrite)


@contextlib.contextmanager
def removed_if_failed(folder):
    """Create ``folder`` (and missing parents); if the block fails, remove the created folders
    that are then empty, so a failed command leaves nothing behind that would block its retry
    (its outputs appear only when complete: gluon_tricks.atomic)."""
    made = []
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        made.append(path)
        path = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in made:
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise


def disk_full(error):
    """True when ``error`` (an OSError or an MXNet write failure) means the disk is full."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    return "No space left" in text or "FileStream.Write incomplete" in text
