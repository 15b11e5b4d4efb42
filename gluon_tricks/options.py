"""Command-line options declared on dataclass fields: one declaration gives the flag, its aliases,
help, choices and range, from which a parser is generated and a value checked.

Every option is observed by tests/test_every_option.py (a value other than its default changes
what a user sees) unless its declaration says why no test can: ``unobservable="why"`` on an
:func:`option`, :func:`unobservable` on a plain argparse flag.

A field made with :func:`option` carries an :class:`Option` in its metadata. :func:`add_arguments`
turns every such field of a dataclass into an argparse argument whose default is "not given",
:func:`given` reads back only what the user typed, and :func:`check` validates a filled instance
(choices and ranges) with one-line :class:`~gluon_tricks.errors.UsageError` messages.
"""
import argparse
import dataclasses
import math
import typing
from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

from .errors import UsageError, shown

METADATA_KEY = "option"
# MXNet counts shapes, threads and seeds in 32-bit integers: no integer option reaches this.
INT_LIMIT = 2 ** 31
# Threads, processes or devices a command starts: more than any host has is a typo (and would
# hold that many images in memory, or hang building the list).
MAX_PARALLEL = 1024


class Option(NamedTuple):
    """How a dataclass field appears on the command line and which values it accepts."""

    flags: Tuple[str, ...]          # the first is the canonical flag, the rest are aliases
    help: str
    group: str
    choices: Union[None, Sequence[str], Callable[[], Sequence[str]]] = None
    validator: Optional[Callable[[object, str], None]] = None   # raises UsageError(value, flag)
    minimum: Optional[float] = None     # smallest accepted value (see ``exclusive``)
    exclusive: bool = False             # True: the value must be > minimum
    maximum: Optional[float] = None     # largest accepted value
    nargs: Optional[str] = None
    const: object = None
    metavar: Optional[str] = None
    switch: Optional[str] = None        # a companion on/off flag (GluonCV's --mixup)
    switch_value: object = None         # the value when the switch alone is given
    resume_safe: bool = False           # a resumed run may change it (see resume_safe())
    unobservable: Optional[str] = None  # why no test can see what a value changes

    @property
    def flag(self):
        return self.flags[0]

    def choice_list(self):
        return tuple(self.choices() if callable(self.choices) else self.choices or ())


def option(default, *flags, help, group, default_factory=None, **details):
    """A dataclass field that is also a command-line option (see :class:`Option`)."""
    meta = {METADATA_KEY: Option(tuple(flags), help, group, **details)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def redefault(cls, name, default):
    """The option field ``name`` of dataclass ``cls`` with another ``default``: a subclass
    redeclares it so (flag, help and range stay declared once)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return dataclasses.field(default=default, metadata=field.metadata)


def unobservable(action, why):
    """Mark the argparse flag ``action`` (what ``add_argument`` returned) as one whose value no
    test can observe, saying ``why``; returns it."""
    action.unobservable = why
    return action


def options_of(cls):
    """(field, Option) of every option field of dataclass ``cls``, in declaration order."""
    return [(f, f.metadata[METADATA_KEY]) for f in dataclasses.fields(cls)
            if METADATA_KEY in f.metadata]


def resume_safe(cls):
    """The fields of ``cls`` a resumed run may change: those declared ``resume_safe``, which
    change where and how often a run writes or where its input comes from, never its numbers."""
    return tuple(field.name for field, opt in options_of(cls) if opt.resume_safe)


def int_list(text):
    """``30,60,90`` → [30, 60, 90] (GluonCV's ``--lr-decay-epoch`` format)."""
    try:
        return [int(e) for e in text.split(",") if e.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("takes comma-separated epoch numbers like 30,60,90, "
                                         "got %s" % shown(text, quoted=True)) from None


def bounded_int(text):
    """An int flag's value, refused past what MXNet's 32-bit integers hold (the CLI's parsers
    use it for every ``type=int`` flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("takes a whole number, got %s"
                                         % shown(text, quoted=True)) from None
    if not -INT_LIMIT < value < INT_LIMIT:
        raise argparse.ArgumentTypeError("takes a number below 2^31, got %s" % shown(text))
    return value


def finite_float(text):
    """A float flag's value: ``nan`` and ``inf`` are refused (a learning rate of inf would
    train on, as every comparison with NaN is false). The CLI's parsers use it for every
    ``type=float`` flag."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("takes a number, got %s" % shown(text, quoted=True)) \
            from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("takes a finite number, got %s" % text)
    return value


def _value_type(annotation):
    """The argparse ``type`` of a field annotation (Optional[X] → X, List[int] → int_list)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (list, typing.List):
        return int_list
    if args:
        return _value_type(args[0])
    return annotation


def _default_text(field):
    value = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if isinstance(value, list):
        return ",".join(map(str, value))
    return value


def add_arguments(parser, cls, groups=None):
    """Add every option field of ``cls`` to ``parser``, in argument groups named by
    ``Option.group``; ``groups`` maps a group name to an existing group. Nothing is filled in
    for options the user does not give (see :func:`given`)."""
    groups = {} if groups is None else groups
    for field, opt in options_of(cls):
        if opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(opt.group)
        group = groups[opt.group]
        help_text = opt.help
        choices = opt.choice_list()
        metavar = opt.metavar or ("{%s}" % ",".join(choices) if choices else _metavar(field))
        kwargs = dict(dest=field.name, default=argparse.SUPPRESS)
        if field.type is bool:      # a flag that turns on, or (default True: --no-X) off
            kwargs.update(action="store_false" if field.default is True else "store_true")
        else:
            if _default_text(field) is not None:
                help_text += " (default %s)" % (_default_text(field),)
            kwargs.update(type=_value_type(field.type), metavar=metavar)
            if opt.nargs:
                kwargs.update(nargs=opt.nargs, const=opt.const)
        action = group.add_argument(*opt.flags, help=help_text, **kwargs)
        if opt.unobservable:
            unobservable(action, opt.unobservable)
        if opt.switch:
            group.add_argument(opt.switch, dest=_switch_dest(field), action="store_true",
                               default=argparse.SUPPRESS,
                               help="turn on %s (value %s unless %s is given)"
                               % (field.name.split("_")[0], opt.switch_value, opt.flag))
    return groups


def _metavar(field):
    return field.name.split("_")[-1].upper()


def _switch_dest(field):
    return field.name + "__switch"


def given(args, cls):
    """The option values of ``cls`` the user typed in ``args`` (a dict keyed by field name).

    A field with a switch (``--mixup``) counts as given only with its switch; its value is the
    one typed, else the switch's value, and must then be positive.
    """
    typed = vars(args)
    values = {}
    for field, opt in options_of(cls):
        if opt.switch:
            if typed.get(_switch_dest(field)):
                value = typed.get(field.name, opt.switch_value)
                if not value > 0:
                    raise UsageError("%s must be > 0 with %s, got %s"
                                     % (opt.flag, opt.switch, shown(value)))
                values[field.name] = value
        elif field.name in typed:
            values[field.name] = typed[field.name]
    return values


def command_line(cls, values):
    """The flags that give ``values`` (a dict keyed by option field of ``cls``), the inverse of
    :func:`given`: a list of strings, in declaration order."""
    argv = []
    for field, opt in options_of(cls):
        if field.name not in values:
            continue
        value = values[field.name]
        if opt.switch:
            argv.append(opt.switch)
        if field.type is bool:
            argv += [opt.flag] if value != field.default else []
        else:
            argv += [opt.flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return argv


def check(cfg):
    """Raise a one-line UsageError for the first option of ``cfg`` outside its choices or range,
    not a finite number, or an integer MXNet cannot hold (values from a config file have not
    been through the parser)."""
    for field, opt in options_of(type(cfg)):
        value = getattr(cfg, field.name)
        choices = opt.choice_list()
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError("%s must be a finite number, got %s" % (opt.flag, value))
        if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
            raise UsageError("%s must be below 2^31 (MXNet counts in 32-bit integers), got %s"
                             % (opt.flag, shown(value)))
        if opt.validator is not None and value is not None:
            opt.validator(value, opt.flag)
        if choices and value is not None and value not in choices:
            raise UsageError("%s %s is not valid; choose one of: %s"
                             % (opt.flag, shown(value, quoted=True), ", ".join(choices)))
        if opt.minimum is not None and value is not None:
            low = opt.minimum
            if value < low or (opt.exclusive and value == low):
                raise UsageError("%s must be %s %s, got %s"
                                 % (opt.flag, ">" if opt.exclusive else "≥", low, shown(value)))
        if opt.maximum is not None and value is not None and value > opt.maximum:
            raise UsageError("%s must be at most %s, got %s" % (opt.flag, opt.maximum, shown(value)))
