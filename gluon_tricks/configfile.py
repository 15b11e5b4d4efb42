"""``--config FILE`` (``train``, ``detect``, ``segment``): a run's settings read back from what
``--print-config`` printed (or a run's ``config.json``), JSON, or YAML for ``.yaml``/``.yml``
files (PyYAML comes with GluonCV).

The file holds *resolved* values. Those the command computes from others (for ``train``
:func:`gluon_tricks.config.without_derived`: the total batch, device and worker counts, the lr
under ``lr_per_256``, record paths from ``data_dir``, default input size and class count) are
dropped and computed again, so a flag given with the file changes them consistently; every other
value is used unless a flag is given.

A config file may come from someone else, so it carries what a run computes, never what the run
does to this machine: where it writes (``save_dir``, ``logging_file``), what it continues or
replaces (``resume``, ``overwrite``) and the limits that protect the machine
(``max_image_pixels``) are ignored with one line saying so (every saved ``config.json`` holds
them, so refusing would break ``--config RUN/config.json --save-dir NEW``). The paths it may carry
are read only (data, starting and teacher weights). The file is read within the bounds of
:mod:`gluon_tricks.textfile`, and YAML aliases are refused, all before any Python object is built
from it.
"""
import dataclasses
import sys
import typing

from . import textfile
from .errors import UsageError, shown
from .runcore.settings import NOT_FROM_FILE

def read(path, cls):
    """(settings, ignored) of configuration file ``path``, dicts keyed by field of the config
    class ``cls``: the settings without those ``cls.settings_from_file`` leaves out (computed
    again), and the NOT_FROM_FILE keys the file sets to other values than the defaults; a
    one-line UsageError for an unreadable, oversized, binary or too deeply nested file, YAML
    aliases, unknown keys or wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = _parse(path, cls.COMMAND)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UsageError("--config %s has unknown keys: %s; it takes what %s --print-config "
                         "prints" % (shown(path), shown(", ".join(map(str, unknown))),
                                     cls.COMMAND))
    for key, value in values.items():
        if not _fits(value, fields[key].type):
            raise UsageError("--config %s: %s is %s, which is not %s"
                             % (shown(path), key, shown(value, quoted=True),
                                _type_name(fields[key].type)))
    ignored = {k: values.pop(k) for k in NOT_FROM_FILE if k in values}
    defaults = dataclasses.asdict(cls())
    return (cls.settings_from_file(values),
            {k: v for k, v in ignored.items() if v != defaults[k]})


def merged(path, given, cls):
    """The options of a run: config file ``path``'s settings under the flags ``given`` (of
    config class ``cls``); says on stderr which NOT_FROM_FILE keys of the file were ignored
    (those the flags do not set)."""
    saved, ignored = read(path, cls)
    dropped = {k: v for k, v in ignored.items() if k not in given}
    if dropped:
        print("note: --config %s: %s ignored; a config file never chooses where a run writes, "
              "what it continues or replaces, or this machine's limits: give %s on the command "
              "line to set them" % (shown(path), ", ".join("%s %s" % (k, shown(v, quoted=True))
                                                          for k, v in dropped.items()),
                                    ", ".join("--" + k.replace("_", "-") for k in dropped)),
              file=sys.stderr, flush=True)
    return merge(saved, given)


def merge(saved, given):
    """The options of a run from a file's ``saved`` values under the flags ``given``: a given
    --lr or --lr-per-256 replaces both of the file's."""
    if "lr" in given or "lr_per_256" in given:
        saved = {k: v for k, v in saved.items() if k not in ("lr", "lr_per_256")}
    return dict(saved, **given)


def _parse(path, command):
    what = "--config %s" % shown(path)
    if not path.endswith((".yaml", ".yml")):
        values = textfile.load_json(path, what, "; %s --print-config writes one (YAML: name "
                                                "the file .yaml)" % command)
    else:
        import yaml
        text = textfile.read(path, what)
        try:
            _check_yaml_events(what, yaml.parse(text, Loader=yaml.SafeLoader))
            values = yaml.safe_load(text)
        except UsageError:
            raise
        except (yaml.YAMLError, ValueError) as err:    # ValueError: an int of 5000 digits
            raise UsageError("%s is not valid YAML (%s)"
                             % (what, shown(str(err).splitlines()[0]))) from None
        if not isinstance(values, dict):
            raise textfile.must_be_mapping(what)
    return values


def _check_yaml_events(what, events):
    """Refuse YAML aliases (a few hundred bytes of them expand to gigabytes) and nesting deeper
    than textfile.MAX_DEPTH, from the parser's events alone."""
    import yaml

    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            raise UsageError("%s uses a YAML alias (*%s); write the values out, as train "
                             "--print-config does" % (what, shown(event.anchor)))
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > textfile.MAX_DEPTH:
                raise textfile.too_deep(what)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _fits(value, annotation):
    """True if a JSON value ``value`` is of the field type ``annotation``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return value is None or _fits(value, args[0])
    if typing.get_origin(annotation) in (list, typing.List):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return _type_name(args[0]) + " or null"
    if typing.get_origin(annotation) in (list, typing.List):
        return "a list of " + _type_name(args[0]).split(" ", 1)[1] + "s"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[annotation]
