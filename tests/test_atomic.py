"""gluon_tricks.atomic on a real file system: publishing replaces nothing (with renameat2 and
with the claim-then-rename fallback), replacing swaps names and never writes through a link,
appends refuse links, and only this process's own outputs count as made here."""
import os

import pytest

from gluon_tricks import atomic
from gluon_tricks.errors import UsageError


def occupants(tmp_path):
    """A file, a dangling link and a folder with content, each where an output goes."""
    (tmp_path / "file").write_text("mine")
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inside").write_text("mine")
    return ["file", "link", "folder"]


def snapshot(tmp_path):
    return {p.name: (os.path.islink(p), p.read_text() if p.is_file() else None)
            for p in tmp_path.rglob("*")}


@pytest.mark.parametrize("rename", [atomic.rename_noreplace, atomic._claim_then_rename])
def test_a_folder_or_file_is_published_only_where_nothing_is(tmp_path, rename):
    names = occupants(tmp_path)
    before = snapshot(tmp_path)
    for kind in ("folder", "file"):
        tmp = tmp_path / ("new-" + kind)
        tmp.mkdir() if kind == "folder" else tmp.write_text("new")
        for name in names:
            with pytest.raises(atomic.Occupied, match="%s appeared while" % name):
                rename(str(tmp), str(tmp_path / name))
        rename(str(tmp), str(tmp_path / ("published-" + kind)))
        assert not tmp.exists() and (tmp_path / ("published-" + kind)).exists()
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before


def test_new_files_publish_without_replacing_and_replace_only_the_name(tmp_path):
    names = occupants(tmp_path)
    for name in names:
        with pytest.raises(atomic.Occupied):
            atomic.write_text(str(tmp_path / name), "new")
    assert not [p for p in os.listdir(tmp_path) if atomic.MARK in p]
    target = tmp_path / "target.txt"
    target.write_text("the user's")
    os.symlink(target, tmp_path / "pointer")
    atomic.write_text(str(tmp_path / "pointer"), "ours", replace=True)
    assert target.read_text() == "the user's" and not os.path.islink(tmp_path / "pointer")
    assert atomic.made_here(str(tmp_path / "pointer")) and not atomic.made_here(str(target))


def test_appends_and_own_folders_refuse_links(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("the user's")
    os.symlink(target, tmp_path / "train.log")
    with pytest.raises(UsageError, match="train.log is a symbolic link"):
        atomic.open_append(str(tmp_path / "train.log"))
    os.symlink(tmp_path, tmp_path / "plots")
    with pytest.raises(UsageError, match="plots is a symbolic link where this program keeps"):
        atomic.make_folder(str(tmp_path / "plots"))
    assert target.read_text() == "the user's"
    with atomic.open_append(str(tmp_path / "fresh.log")) as log:
        log.write("line\n")
    assert (tmp_path / "fresh.log").read_text() == "line\n"
