"""The package's own errors; the CLI alone turns them into one line on stderr and an exit code."""
import reprlib

# At most this many characters of any one value a user gave (a flag, a config value, a line of
# a list file) go into a message: a megabyte path or a config's alias bomb stays a short line;
# the CLI cuts a whole message at MESSAGE_CHARS.
SHOWN_CHARS, MESSAGE_CHARS = 200, 2000

_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother, _BOUNDED.maxlong = 3, 60, 60, 60
_BOUNDED.maxlist = _BOUNDED.maxtuple = _BOUNDED.maxdict = _BOUNDED.maxset = 6


def shown(value, quoted=False, limit=SHOWN_CHARS):
    """``value`` as a message quotes it, at most about ``limit`` characters: text as it is but
    for control characters, escaped (a newline or a terminal escape in a file name stays one
    harmless line; ``quoted``: with quotes, as ``%r`` shows it), anything else as a repr that
    never expands more than a few levels and items, so formatting it takes no more than the
    line itself."""
    if not isinstance(value, str):
        text = _BOUNDED.repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    text = repr(value[:limit]) if quoted else "".join(
        c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])
    if len(value) <= limit:
        return text
    return "%s... (%s characters)" % (text, format(len(value), ","))


class GluonTricksError(Exception):
    """A failure the user can act on: the message names the problem and what to do."""

    exit_code = 1


class UsageError(GluonTricksError, ValueError):
    """Bad input from the user (a flag, a file, a missing device): exit code 2."""

    exit_code = 2


class Stopped(GluonTricksError):
    """A run stopped on request (SIGTERM, SIGINT, SIGUSR1) after a checkpoint of that point:
    not an error; exit code 75, sysexits.h's EX_TEMPFAIL ("try again later"), which tells a
    requeueing job script or a Kubernetes podFailurePolicy that the run is resumable, apart
    from success (0), a failure (1), bad input (2) or a kill (137, 143)."""

    exit_code = 75


class TrainingFailed(GluonTricksError):
    """Training stopped on its own (e.g. the loss diverged): not a usage error; exit code 1."""
