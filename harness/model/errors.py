"""One exception hierarchy: every error micrograde raises on purpose is a ``MicrogradeError`` and
carries the exit status the command line gives it, so a surface maps errors to statuses once.

The worker's own exceptions (``worker/load/errors.py``) stay in the worker package: it runs in the
sandbox on the standard library alone, and what goes wrong there reaches the grader as data.
"""


class MicrogradeError(Exception):
    """Base of micrograde's errors; ``exit_code`` is the command line's status for it."""
    exit_code = 1


class UsageError(MicrogradeError, ValueError):
    """What was asked cannot be done as asked (an option, a rubric, a roster): exit 2."""
    exit_code = 2


class RubricError(UsageError):
    """The rubric file is unreadable or says something impossible."""


class IsolationUnavailable(UsageError):
    """The isolation level asked for cannot run on this machine."""


class WorkerError(MicrogradeError):
    """A worker broke the protocol, stalled or died: what it had not answered is not graded."""
