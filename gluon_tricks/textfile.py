"""Small text files that may come from someone else (a ``--config`` file, a run folder's
``config.json``), read within bounds before any Python object is built from them: at most
MAX_BYTES, UTF-8, and lists or mappings nested at most MAX_DEPTH deep (JSON's and YAML's parsers
recurse once per level: 200,000 levels would crash them). A file outside the bounds is a
one-line UsageError naming it.
"""
import json
import re

from .errors import UsageError, shown

# What --print-config and a run's config.json hold: a few KB, one mapping of numbers, strings
# and lists of numbers (depth 2).
MAX_BYTES = 1 << 20
MAX_DEPTH = 8
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def read(path, what):
    """The text of file ``path``, which a message calls ``what`` (e.g. "--config x.json")."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise UsageError("cannot read %s (%s)" % (what, err.strerror or err)) from None
    if len(raw) > MAX_BYTES:
        raise UsageError("%s is over %d MB; a configuration is a few KB, as train --print-config "
                         "writes it" % (what, MAX_BYTES >> 20))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError("%s is not a text file (not UTF-8 at byte %d)" % (what, err.start)) \
            from None


def too_deep(what):
    return UsageError("%s nests lists or mappings more than %d deep; a configuration is one "
                      "mapping of settings, as train --print-config prints" % (what, MAX_DEPTH))


def check_json_depth(text, what):
    """Refuse JSON nested deeper than MAX_DEPTH by counting brackets outside strings."""
    depth = 0
    for bracket in re.findall(r"[\[\]{}]", JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            raise too_deep(what)


def load_json(path, what, hint=""):
    """The JSON object (a dict) of file ``path`` within the bounds above; ``hint`` ends a message
    about a file that is not one."""
    text = read(path, what)
    check_json_depth(text, what)
    try:
        value = json.loads(text)
    except ValueError as err:
        raise UsageError("%s is not valid JSON (%s)%s" % (what, shown(str(err)), hint)) from None
    if not isinstance(value, dict):
        raise must_be_mapping(what)
    return value


def must_be_mapping(what):
    return UsageError("%s must hold one mapping of settings, as train --print-config prints" % what)
