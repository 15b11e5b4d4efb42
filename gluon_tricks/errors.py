"""The error type every command raises for bad input: the CLI prints it as one line and exits 2."""


class UsageError(ValueError):
    """Bad input from the user: the message names the problem and what to do about it."""

    exit_code = 2


class TrainingFailed(UsageError):
    """Training stopped on its own (e.g. the loss diverged): one line saying where things stand."""

    exit_code = 1
