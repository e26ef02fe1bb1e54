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
