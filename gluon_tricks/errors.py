"""The package's own errors; the CLI alone turns them into one line on stderr and an exit code."""


class GluonTricksError(Exception):
    """A failure the user can act on: the message names the problem and what to do."""

    exit_code = 1


class UsageError(GluonTricksError, ValueError):
    """Bad input from the user (a flag, a file, a missing device): exit code 2."""

    exit_code = 2


class TrainingFailed(GluonTricksError):
    """Training stopped on its own (e.g. the loss diverged): not a usage error; exit code 1."""
