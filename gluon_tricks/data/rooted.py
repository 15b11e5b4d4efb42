"""Files a data set names (Places365 list lines, Pascal VOC ``ImageSets`` ids, the files of
ADE20K's folders) must lie inside the data set's folder: a data set from someone else must not
make a command read other files of this machine through ``..``, an absolute path or a symlink
that leads out.
"""
import os

from ..errors import UsageError, shown


class Root:
    """A data set's folder, symlinks resolved once; :meth:`check` tests paths under it."""

    def __init__(self, path):
        self.path = path
        self.real = os.path.realpath(path)
        self._real_dirs = {}

    def contains(self, path):
        """True when ``path``, with ``..`` and every symlink resolved, lies inside the root.
        Folders are resolved once each (a list names thousands of files per folder)."""
        folder, name = os.path.split(path)
        if folder not in self._real_dirs:
            self._real_dirs[folder] = os.path.realpath(folder)
        real = os.path.join(self._real_dirs[folder], name)
        if name in ("", ".", "..") or os.path.islink(real):
            real = os.path.realpath(real)
        return real.startswith(self.real.rstrip(os.sep) + os.sep)

    def check(self, path, source):
        """A one-line UsageError naming ``source`` (a list file and line, or the folder) when
        ``path`` lies outside the root or is no file name at all (a NUL byte)."""
        if "\0" in path:
            raise UsageError("%s: %s holds a NUL byte, which no file name can"
                             % (source, shown(path)))
        if not self.contains(path):
            raise UsageError("%s: %s leads outside %s (through .., an absolute path or a "
                             "symlink); a data set names only files inside its folder"
                             % (source, shown(path), self.path))
