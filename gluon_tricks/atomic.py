"""Writes that never follow a symbolic link and never replace what appeared meanwhile.

Every file and folder the program writes goes through this module, so one mechanism holds:

* **Exclusive temporaries.** An output is first written under a temporary name in its own
  folder, created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, or ``mkdir``), so a link or a
  file planted at that name is never followed or reused. The name is
  ``.<output name>.gluon-tricks-<random token>``; nothing is ever deleted on the strength of a
  name alone (see :func:`remove_leftovers`).
* **Publishing replaces nothing.** A finished temporary gets its final name with ``os.link`` and
  an unlink (files) or ``renameat2(RENAME_NOREPLACE)`` (folders). Where the file system lacks
  either, the final name is first claimed exclusively (an empty folder or file) and the
  temporary renamed onto that claim. Whatever appeared at the final path meanwhile (a file, a
  link) stays, and the command stops with :class:`Occupied`. Replacing is asked for explicitly
  (``replace=True``: a command's own file, e.g. a run's ``config.json`` on resume, or under
  ``--overwrite``); ``os.replace`` then swaps the name itself and never writes through a link.
* **Staging folders** hold outputs that MXNet writes by path (checkpoints, ``export``,
  ``prepare``) and a final output set aside while it is replaced. Each holds a marker file
  naming its process; :func:`remove_leftovers` deletes only such folders, and only once their
  process is gone, in folders the program made (a run's ``checkpoints/``), and folders of that
  name left empty by a kill before the marker was written or after it was removed.
* **Appends** (logs) are opened with ``O_NOFOLLOW``: a link at a log's path is refused.
* Files published by this process are remembered (device and inode), so the clean-up after a
  failed command removes only what it made (:func:`made_here`).
"""
import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import socket
import stat

from .errors import UsageError

MARK = ".gluon-tricks-"
MARKER_FILE = ".gluon-tricks-staging"
_TOKEN_BYTES = 6
_STAGING_NAME = re.compile(r"\..+%s[0-9a-f]{%d}\Z" % (re.escape(MARK), 2 * _TOKEN_BYTES))
# Inside a staging folder: the final output set aside while its replacement is published.
PREVIOUS = "previous"

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)
_NO_RENAMEAT2 = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1

_renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
    _renameat2.restype = ctypes.c_int

_published = set()


class Occupied(UsageError):
    """Something appeared at an output path while the command was writing it."""

    def __init__(self, path):
        super().__init__("%s appeared while this command was writing it and was left as it is; "
                         "move it away and run the command again" % path)


def temp_path(path):
    """A fresh temporary name beside ``path`` (see the module docstring)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, "." + name + MARK + secrets.token_hex(_TOKEN_BYTES))


def leftovers(path):
    """Temporaries and staging folders named after ``path`` that are still in its folder (e.g.
    of a killed run, or of another process writing now)."""
    folder, name = os.path.split(os.path.abspath(path))
    prefix = "." + name + MARK
    return sorted(os.path.join(folder, entry) for entry in os.listdir(folder)
                  if entry.startswith(prefix)) if os.path.isdir(folder) else []


@contextlib.contextmanager
def new_file(path, replace=False, text=False):
    """Yield a file object writing an exclusive temporary beside ``path``; when the block ends
    without error it becomes ``path`` (:func:`publish`, or :func:`replace_file` if
    ``replace``), otherwise it is removed."""
    tmp = temp_path(path)
    handle = os.fdopen(os.open(tmp, _CREATE, 0o666), "w" if text else "wb",
                       **({"encoding": "utf-8"} if text else {}))
    try:
        with handle:
            yield handle
        (replace_file if replace else publish)(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text, replace=False):
    """Write the small text file ``path`` through :func:`new_file`."""
    with new_file(path, replace, text=True) as handle:
        handle.write(text)


def write_bytes(path, data, replace=False):
    """Write ``data`` to ``path`` through :func:`new_file`."""
    with new_file(path, replace) as handle:
        handle.write(data)


def publish(tmp, final):
    """Give the finished temporary ``tmp`` (a file or a folder) the name ``final``; Occupied if
    anything is there."""
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        rename_noreplace(tmp, final)
    else:
        try:
            os.link(tmp, final, follow_symlinks=False)
        except FileExistsError:
            raise Occupied(final) from None
        except OSError as err:
            if err.errno not in _NO_HARD_LINKS:
                raise
            rename_noreplace(tmp, final)
        else:
            os.unlink(tmp)
    _remember(final)


def replace_file(tmp, final):
    """Give the file ``tmp`` the name ``final``, replacing the name (never a link's target)."""
    os.replace(tmp, final)
    _remember(final)


def publish_all(moves, replace=False):
    """Publish each (temporary, final) pair in order. With ``replace`` every existing final is
    removed first, so that a crash never leaves old and new files side by side (publish the
    file that marks a set complete last). If one is occupied, those published before it are
    taken back."""
    if replace:
        for _, final in moves:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(final)
    done = []
    try:
        for tmp, final in moves:
            publish(tmp, final)
            done.append(final)
    except BaseException:
        for final in done:
            if made_here(final):
                os.unlink(final)
        raise


def rename_noreplace(src, dst):
    """Rename ``src`` to ``dst`` unless something exists at ``dst`` (then Occupied)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                      _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise Occupied(dst)
        if code not in _NO_RENAMEAT2:
            raise OSError(code, os.strerror(code), dst)
    _claim_then_rename(src, dst)


def _claim_then_rename(src, dst):
    """Without renameat2: claim ``dst`` exclusively (an empty folder, or an empty file), then
    rename ``src`` onto the claim. A folder can only ever replace an empty folder this way."""
    try:
        if os.path.isdir(src) and not os.path.islink(src):
            os.mkdir(dst)
        else:
            os.close(os.open(dst, _CREATE, 0o600))
    except FileExistsError:
        raise Occupied(dst) from None
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise Occupied(dst) from None
        raise


def _remember(path):
    info = os.lstat(path)
    _published.add((info.st_dev, info.st_ino))


def made_here(path):
    """True when ``path`` is a file or folder this process published (and nobody replaced)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return (info.st_dev, info.st_ino) in _published


def open_append(path):
    """``path`` opened for appending text (created if missing); a symbolic link there is
    refused in one line instead of being written through."""
    try:
        return os.fdopen(os.open(path, _APPEND, 0o666), "a", encoding="utf-8")
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
    raise UsageError("%s is a symbolic link; logs are never written through a link: remove it "
                     "or name another file" % path)


def make_folder(path):
    """Create the program's own subfolder ``path`` (a run's ``checkpoints/`` or ``plots/``) if
    it is missing (with its parents); a link or a file there is refused, so nothing is written
    elsewhere."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        if os.path.islink(path) or not os.path.isdir(path):
            raise UsageError("%s is a %s where this program keeps a folder of its own; move it "
                             "away and run the command again"
                             % (path, "symbolic link" if os.path.islink(path) else "file")
                             ) from None


@contextlib.contextmanager
def staging(folder, name):
    """Yield a new folder ``.<name>.gluon-tricks-<token>`` in ``folder`` for outputs written
    by path, with a marker naming this process and ``name``; it is deleted with whatever is
    left in it when the block ends."""
    path = temp_path(os.path.join(folder, name))
    os.mkdir(path)
    try:
        with open(os.path.join(path, MARKER_FILE), "x", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "target": name}, handle)
        yield path
    finally:
        _discard(path)


def swap(new, final, stage):
    """Replace the folder ``final`` (the caller's own) by the finished folder ``new``: ``final``
    is set aside into the staging folder ``stage`` (deleted with it), then ``new`` published. If
    that fails the old one is put back; after a kill, :func:`remove_leftovers` does it."""
    previous = os.path.join(stage, PREVIOUS)
    rename_noreplace(final, previous)
    try:
        publish(new, final)
    except BaseException:
        rename_noreplace(previous, final)
        raise


def _discard(path):
    """Delete a staging folder: its contents, then its marker, then itself (a kill midway
    leaves a folder that is still recognised as one)."""
    for entry in os.listdir(path):
        if entry != MARKER_FILE:
            inner = os.path.join(path, entry)
            if os.path.isdir(inner) and not os.path.islink(inner):
                shutil.rmtree(inner)
            else:
                os.unlink(inner)
    os.unlink(os.path.join(path, MARKER_FILE))
    os.rmdir(path)


def _owner(path):
    """The marker of the staging folder ``path``, or None when it is not one."""
    if os.path.islink(path) or not os.path.isdir(path):
        return None
    try:
        with open(os.path.join(path, MARKER_FILE), encoding="utf-8") as handle:
            owner = json.loads(handle.read(4096))
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict):
        return None
    pid, host, target = owner.get("pid"), owner.get("host"), owner.get("target")
    if (type(pid) is not int or not isinstance(host, str) or not isinstance(target, str)
            or os.path.basename(target) != target or target in ("", ".", "..")):
        return None
    return owner


def _running(owner):
    """True when the process that wrote a staging marker may still be writing (same host)."""
    if owner["host"] != socket.gethostname():
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unfinished(path):
    """Remove ``path`` if it is a staging folder caught at its first or last step (a kill
    between its creation and its marker, or between the marker's removal and its own): it
    then holds nothing, or nothing but an unreadable marker, so no one's data goes with it.
    Returns whether it was removed."""
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    entries = os.listdir(path)
    if not set(entries) <= {MARKER_FILE}:
        return False
    marker = os.path.join(path, MARKER_FILE)
    if entries:
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return False
        os.unlink(marker)
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def remove_leftovers(folder, restorable):
    """Delete the staging folders of processes that are gone (a kill midway through a write)
    from ``folder``; an output set aside there whose replacement never arrived is first put
    back when ``restorable(path)``. Only folders with this module's name and marker are
    touched, and folders of that name caught before their marker was written or after it was
    removed (:func:`_unfinished`): a user's file is never deleted, whatever its name. Returns
    the names removed."""
    removed = []
    for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
        path = os.path.join(folder, entry)
        if not _STAGING_NAME.match(entry):
            continue
        owner = _owner(path)
        if owner is None:
            if _unfinished(path):
                removed.append(entry)
            continue
        if _running(owner):
            continue
        previous, target = os.path.join(path, PREVIOUS), os.path.join(folder, owner["target"])
        if os.path.isdir(previous) and not os.path.lexists(target) and restorable(previous):
            rename_noreplace(previous, target)
        _discard(path)
        removed.append(entry)
    return removed


def fsync(path):
    """Flush a file or folder that another writer (MXNet) created to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
