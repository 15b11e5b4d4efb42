"""Scan a .rec file (and its .idx) in one pass, list every damaged record with its byte offset,
and write a copy without them (``repair``).

The framing is parsed in Python (see recordfile) so truncated or corrupted files are reported
record by record; after a bad magic word the scan resynchronises on the next aligned one. Image
payloads are decoded strictly (see codec), so corrupt JPEG data is named with its record instead
of printed as a libjpeg warning.
"""
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import List, Optional

import mxnet as mx
from tqdm import tqdm

from ..errors import UsageError
from ..data import codec, imagesize, recordfile
from . import pack

CHUNK = 1 << 20


@dataclass
class Problem:
    """One bad record: its position in the file (ordinal), byte offset and what is wrong."""

    ordinal: Optional[int]
    offset: int
    reason: str
    key: Optional[int] = None

    def describe(self):
        """'record N (idx key K) at byte B: reason'."""
        where = "record %s" % ("?" if self.ordinal is None else self.ordinal)
        if self.key is not None:
            where += " (idx key %d)" % self.key
        return "%s at byte %d: %s" % (where, self.offset, self.reason)


@dataclass
class Report:
    """Result of a scan: record count, label range, size and the problems found."""

    rec_path: str
    idx_path: Optional[str]
    size: int
    records: int = 0
    idx_entries: int = 0
    label_min: Optional[float] = None
    label_max: Optional[float] = None
    labels: set = field(default_factory=set)
    problems: List[Problem] = field(default_factory=list)

    @property
    def clean(self):
        return not self.problems

    def add_label(self, values):
        """Fold one good record's label value(s) into the range and distinct set."""
        for value in values:
            self.labels.add(float(value))
            self.label_min = value if self.label_min is None else min(self.label_min, value)
            self.label_max = value if self.label_max is None else max(self.label_max, value)

    def summary_lines(self):
        """'OK <summary>' when clean, else one line per problem then 'BAD <summary>'."""
        label_text = ("labels %g..%g (%d distinct)" % (self.label_min, self.label_max, len(self.labels))
                      if self.labels else "no labels")
        idx_text = ("%d idx entries in %s" % (self.idx_entries, self.idx_path)
                    if self.idx_path else "no .idx (scanned sequentially)")
        head = "%s: %d records, %s, %d bytes, %s" % (self.rec_path, self.records, label_text,
                                                        self.size, idx_text)
        if self.clean:
            return ["OK " + head]
        return (["%s" % problem.describe() for problem in self.problems]
                + ["BAD %s: %d bad record(s) found" % (head, len(self.problems))])


def find_magic(handle, start):
    """Offset of the next 4-byte-aligned magic word at or after ``start``, or None."""
    offset = (start + 3) & ~3
    while True:
        handle.seek(offset)
        block = handle.read(CHUNK + 4)
        if len(block) < 4:
            return None
        position = block.find(recordfile.MAGIC_BYTES)
        while position != -1 and position % 4:
            position = block.find(recordfile.MAGIC_BYTES, position + 1)
        if position != -1:
            return offset + position
        offset += CHUNK


def scan_frames(handle, size):
    """Yield ('record', ordinal, offset, payload) or ('problem', ordinal, offset, reason) in file order.

    Split records (cflag 1/2/3, used when the payload contains the magic word) are reassembled.
    """
    offset, ordinal = 0, 0
    while offset < size:
        walk = recordfile.walk_record(handle, offset)
        resume = walk.end
        if walk.fault is None:
            yield "record", ordinal, offset, recordfile.joined(walk.parts)
        elif walk.fault == recordfile.CUT_HEADER:
            yield "problem", ordinal, offset, "truncated: file ends inside a record header"
            return
        elif walk.fault == recordfile.NO_MAGIC:
            yield "problem", ordinal, offset, ("bad magic 0x%08x (expected 0x%08x)"
                                               % (walk.value, recordfile.MAGIC))
            resume = find_magic(handle, walk.at + 4)
        elif walk.fault == recordfile.CUT_PAYLOAD:
            # Either the file is cut short or this length word is damaged: a later record
            # start (magic words never occur aligned inside payloads) tells them apart.
            resume = find_magic(handle, offset + recordfile.FRAME_HEADER.size)
            what = "truncated" if resume is None else "length field corrupted"
            yield "problem", ordinal, offset, ("%s: record needs %d payload bytes, only %d left "
                                               "in the file" % ((what,) + walk.value))
        else:
            yield "problem", ordinal, offset, "bad continuation flag %d" % walk.value
        if resume is None:
            return
        offset, ordinal = resume, ordinal + 1


def check_payload(payload, decode, max_pixels=imagesize.MAX_PIXELS):
    """(labels, None) for a good image record payload, or (None, reason). Without ``decode``,
    the image's header alone is checked (a known format declaring at most ``max_pixels``)."""
    parsed, problem = recordfile.parse_payload(payload)
    if problem:
        return None, "header unparsable: " + problem
    labels, body = parsed.labels, parsed.image
    if not all(math.isfinite(label) for label in labels):
        return None, "header unparsable: label is not a finite number"
    if not body:
        return None, "not a decodable image: empty image data"
    if recordfile.checksum_mismatch(parsed.id2, body):
        return None, "image data changed since prepare wrote it (checksum mismatch)"
    if codec.truncated_jpeg(body):
        return None, "not a decodable image: JPEG data is truncated (no end-of-image marker)"
    try:
        codec.check_image(body, codec.STRICT if decode else codec.HEADER, max_pixels)
    except codec.DecodeError as err:
        return None, "%s; %d bytes starting %s" % (err, len(body), body[:8].hex())
    return labels, None


def check_record_file(rec_path, idx_path=None, decode=True, threads=None, progress=True,
                      max_pixels=imagesize.MAX_PIXELS):
    """Scan ``rec_path`` once; return a Report listing every bad record and idx entry (images
    declaring more than ``max_pixels`` pixels among them, not decoded)."""
    if not os.path.isfile(rec_path):
        raise UsageError("%s not found; pass an existing .rec file" % rec_path)
    if idx_path is not None and not os.path.isfile(idx_path):
        raise UsageError("%s not found; pass the .idx that belongs to %s, or omit --idx"
                         % (idx_path, rec_path))
    if threads is not None:
        pack.check_threads(threads)
    if idx_path is None:
        beside = recordfile.index_path(rec_path)
        idx_path = beside if os.path.isfile(beside) else None
    entries = recordfile.read_idx(idx_path) if idx_path else []
    size = os.path.getsize(rec_path)
    if not size:
        raise UsageError("%s is empty (0 bytes): it holds no records; rebuild it with "
                         "`gluon-tricks prepare ...`" % rec_path)
    report = Report(rec_path, idx_path, size, idx_entries=len(entries))
    key_of = {offset: key for key, offset in entries}
    starts = set()

    def examine(event):
        kind, ordinal, offset, data = event
        if kind == "problem":
            return ordinal, offset, None, data
        labels, reason = check_payload(data, decode, max_pixels)
        return ordinal, offset, labels, reason

    with open(rec_path, "rb") as handle, \
            tqdm(total=size, unit="B", unit_scale=True, desc="check", file=sys.stderr,
                 disable=not progress, mininterval=1.0) as bar:
        events = scan_frames(handle, size)
        threads = threads or os.cpu_count() or 1
        for ordinal, offset, labels, reason in pack.ordered_map(examine, events, threads):
            bar.update(max(0, offset - bar.n))
            starts.add(offset)
            if reason:
                report.problems.append(Problem(ordinal, offset, reason, key_of.get(offset)))
            else:
                report.records += 1
                report.add_label(labels)
        bar.update(size - bar.n)
    for key, offset in entries:
        if offset >= size:
            reason = "idx points past end of file (%d bytes)" % size
            report.problems.append(Problem(None, offset, reason, key))
        elif offset not in starts:
            reason = "idx offset mismatch: no record starts here"
            report.problems.append(Problem(None, offset, reason, key))
    return report


def repair_outputs(rec_path, out_prefix):
    """The files ``--repair OUT`` writes: OUT.rec/.idx, plus .lst/.classes where the source has
    them. UsageError if any exists already, since nothing a user made is overwritten."""
    source = recordfile.companions(rec_path)
    paths = recordfile.output_paths(out_prefix)
    outputs = {"rec": paths["rec"], "idx": paths["idx"]}
    outputs.update((ext, paths[ext]) for ext in ("lst", "classes") if os.path.isfile(source[ext]))
    for path in outputs.values():
        if os.path.lexists(path):
            raise UsageError("%s already exists; --repair never overwrites anything, so name a new "
                             "OUT prefix" % path)
    return outputs


def repair(report, out_prefix):
    """Copy every good record of ``report``'s file to OUT.rec/.idx (and the matching .lst lines and
    the .classes beside it); return the number of records written.

    Records keep their idx keys (their position in the file when there is no .idx). Everything is
    written under temporary names and renamed into place only when complete.
    """
    outputs = repair_outputs(report.rec_path, out_prefix)
    bad = {problem.ordinal for problem in report.problems if problem.ordinal is not None}
    key_of = {offset: key for key, offset in recordfile.read_idx(report.idx_path)} if report.idx_path else {}
    next_key = max(key_of.values(), default=-1) + 1
    kept = set()
    source = recordfile.companions(report.rec_path)
    try:
        with recordfile.atomic_outputs(list(outputs.values())) as temps:
            temp_of = dict(zip(outputs, temps))
            writer = mx.recordio.MXIndexedRecordIO(temp_of["idx"], temp_of["rec"], "w")
            try:
                with open(report.rec_path, "rb") as handle:
                    for kind, ordinal, offset, payload in scan_frames(handle, report.size):
                        if kind != "record" or ordinal in bad:
                            continue
                        key = key_of.get(offset) if key_of else ordinal
                        if key is None:
                            key, next_key = next_key, next_key + 1
                        writer.write_idx(key, payload)
                        kept.add(key)
            finally:
                writer.close()
            if not kept:
                raise UsageError("%s has no good record to copy; rebuild it with `gluon-tricks "
                                 "prepare ...`" % report.rec_path)
            if "lst" in outputs:
                copy_lst_lines(source["lst"], temp_of["lst"], kept)
            if "classes" in outputs:
                shutil.copyfile(source["classes"], temp_of["classes"])
    except OSError as err:
        raise UsageError("cannot write %s: %s; choose a writable place for OUT"
                         % (err.filename or out_prefix, err.strerror or err)) from None
    return len(kept)


def copy_lst_lines(source, target, keys):
    """Copy the lines of an MXNet .lst ('index<TAB>label...<TAB>path') whose index is in ``keys``."""
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            first = line.split("\t", 1)[0].strip()
            if first.isdigit() and int(first) in keys:
                out.write(line)
