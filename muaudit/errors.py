"""Errors that the CLI and stage entry points turn into one-line messages and exit codes."""


class MuauditError(Exception):
    """Base class: str(error) is the one-line message shown to the user."""

    exit_code = 1


class BadInputError(MuauditError):
    """Bad params, missing or corrupt input files: exit code 2, nothing runs."""

    exit_code = 2


class StageFailedError(MuauditError):
    """A stage, method or policy failed: exit code 1."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (every cleanup that catches KeyboardInterrupt runs); exit code 143."""


class StepError(StageFailedError):
    """An unexpected error inside a named step of a stage; the message names the step and the root cause,
    the chained cause keeps the traceback for the log."""

    def __init__(self, where: str, err: BaseException):
        super().__init__(f"{where}: {root_cause(err)}")


def root_cause(err: BaseException) -> str:
    """One line: a muaudit error's own message, else the type and the first line of the message."""
    if isinstance(err, MuauditError):
        return str(err)
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
